/*  ping.c - a kvpbus client in a few lines: Ping the broker, then define
    a system (a worker answers). Build it against the installed library:
        cc ping.c $(pkg-config --cflags --libs kvpbus) -o ping
        ./ping tcp://127.0.0.1:5555
*/
#include <kvpbus.h>
#include <stdio.h>

int
main (int argc, char *argv [])
{
    kvp_client_t *client = kvp_client_new (argc > 1 ? argv [1]
                                                    : "tcp://127.0.0.1:5555");
    if (!client)
        return 2;
    kvp_client_begin (client, "Ping", 0);
    kvp_reply_t *reply = kvp_client_call (client, 5000);
    printf ("Ping: rc %d\n", reply ? kvp_reply_rc (reply) : -1);
    kvp_reply_destroy (&reply);
    msgpack_packer *pk = kvp_client_begin (client, "DefineSystem", 1);
    msgpack_pack_str_with_body (pk, "name", 4);
    msgpack_pack_str_with_body (pk, "ping", 4);
    reply = kvp_client_call (client, 5000);
    const msgpack_object *id = reply ? kvp_reply_get (reply, "id") : NULL;
    int defined = id && id->type == MSGPACK_OBJECT_STR;
    if (defined)
        printf ("DefineSystem: id %.*s\n", (int) id->via.str.size,
                id->via.str.ptr);
    kvp_reply_destroy (&reply);
    kvp_client_destroy (&client);
    return defined ? 0 : 1;
}
