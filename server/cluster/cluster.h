/* The cluster: several fastwsd nodes joined through Redis pub/sub
 * ([cluster] redis_url), behind the chat's backplane interface
 * (server/chat/backplane.h). Without redis_url there is no cluster_t,
 * chat->bp is NULL (the chat's bp_* helpers answer "nothing remote"), and
 * no Redis code runs at all.
 *
 * Files, one job each (a file calls only those listed after it):
 *   cluster.c    this header: the backplane ops, start/close/free, and the
 *                dispatch of received messages
 *   session.c    the Redis session: connect, resolve, reconnect, SUB,
 *                subscriptions, timer, close
 *   publish.c    everything sent on PUB: the gate, PUBLISH, the own HASH,
 *                heartbeats, re-reads
 *   redis_uv.c   the hiredis <-> libuv adapter
 *   presence.c   the replica of the other nodes and the claim rule (pure)
 *   wire.c       the message and value codec (pure)
 *
 * Connections. Two per node, both hiredis async contexts on the server's
 * libuv loop (our own small adapter, redis_uv.c): SUB only SUBSCRIBEs
 * and UNSUBSCRIBEs; PUB carries PUBLISH and every other command. The host
 * is resolved with uv_getaddrinfo (skipped for a numeric address) and the
 * connect is non-blocking: nothing waits on Redis.
 *
 * Channels (P = channel_prefix, N = node_id):
 *   P:all          chat; user_joined/user_left and room_joined/room_left,
 *                  which are also the presence deltas (below)
 *   P:node:N       privates to clients of node N, and their bounces
 *   P:room:R       room messages; a node is subscribed exactly while it has
 *                  local members of R (SUBSCRIBE on the first local join,
 *                  UNSUBSCRIBE when the last local member leaves)
 *   P:presence     heartbeats (every 3 s) and a node's goodbye
 * Keys:
 *   P:clients:N    HASH of node N's clients: field client id, value
 *                  "<claim_usec>[ <room>...]" (the claim time of the
 *                  connection, then the rooms it is in), plus "#seq" (the
 *                  node's presence sequence number) and "#inc" (its
 *                  incarnation). EXPIRE 10 s, refreshed by each heartbeat.
 *
 * Message. One PUBLISH per message:
 *   "<node_id> <incarnation>\n<kind and fields>\n<envelope JSON>"
 * The origin encodes the envelope once (one timestamp), delivers it to its
 * own clients at once, then publishes; the others ignore their own
 * publishes and frame the envelope bytes as they are (chat_deliver_* on
 * the bytes: never re-encoded). Kinds (wire.h has the exact grammar):
 *   C                         chat, to every local client
 *   R <room>                  room message, to the local members
 *   P <to> <from>             private; "B <from> <to>" bounces it to the
 *                             origin when <to> left meanwhile (the sender
 *                             then gets unknown_recipient)
 *   J <seq> <id> <value>      user_joined; value as in the HASH
 *   L <seq> <id>              user_left (no envelope: a silent leave, the
 *                             id was taken over by another node)
 *   M <seq> <id> <room> <+|-> <value>   room_joined / room_left
 *   H <seq> <count> <digest> [hello]    heartbeat
 *   X                         goodbye (clean shutdown)
 * Everything a node publishes goes through its one PUB connection, and
 * Redis hands every subscriber the messages of one publisher in the order
 * it received them, whatever the channel: per-sender order holds across
 * nodes, and a node's presence deltas arrive in order with its chat.
 *
 * Gate. While a SUBSCRIBE is unacknowledged (session start, or a room's
 * first local member), the node holds back everything it would send on
 * PUB, in order, and releases it on the acknowledgement. So no peer learns
 * of a membership (room_joined) before the member's node receives the
 * room's traffic, and no node announces itself before it hears answers.
 *
 * Presence: a replica, per peer node, of its clients and their rooms
 * (presence.c; kept in a second manager_t, the backplane's peers, so
 * /clients, /rooms, /rooms/{room} and the counts in user_joined,
 * user_left, room_joined, room_left are cluster-wide).
 * J, L and M are the deltas (why not a separate delta on P:presence: the
 * event IS the delta, one PUBLISH instead of two, ordered with it by
 * construction). Each carries the node's sequence number; a gap, a new or
 * restarted node (new incarnation), or a heartbeat whose seq, count or
 * digest (xor of 64-bit hashes of ids and id+room memberships) disagrees
 * with the replica, makes the peer re-read that node's HASH with HGETALL (a
 * Redis read, never a query to the node). A re-read races with deltas on
 * the other connection, so the deltas that arrive while it is pending are
 * kept and replayed over the snapshot (those with seq > the snapshot's
 * #seq); the difference with the replica is then told to local clients as
 * user_joined / user_left / room_joined / room_left events of this node's
 * own making. A peer silent for 7 s is dropped the same way (its clients
 * leave everything, user_left each): presence heals ~7-10 s after a
 * kill -9. A clean shutdown DELetes the HASH and says goodbye (X): peers
 * drop the node at once.
 *
 * Duplicate ids across nodes. Each connection holding an id has a claim
 * time (taken at upgrade, and made later than a known holder's). Rule,
 * applied identically by every node to every claim it learns (delta or
 * re-read): the later claim wins, ties by the greater node id. The loser's
 * node closes its connection with 4001 "replaced", tells its room
 * co-members room_left, and publishes a silent L (no user_left). So with
 * on_duplicate_id = replace, a connection to node B for an id held on A
 * is accepted, B publishes one J (no leave/join pair: every node that knew
 * the id on A only moves it, and delivers nothing; a node that did not
 * know it treats it as a join), and A, on that J, closes the old one.
 * With reject, B answers 409 when its replica has the id. Two upgrades
 * for one id on two nodes within the same few milliseconds are both
 * accepted; the rule then keeps the later one.
 *
 * Redis outage. Nodes keep serving their own clients: local chat goes on,
 * cross-node traffic is lost (delivery is at most once), /healthz answers
 * 200 {"status":"degraded"} and fastws_cluster_up is 0. The replica is
 * frozen meanwhile (peers are not expired while we cannot hear them).
 * Reconnect with backoff (100 ms, doubling to 5 s); a session that does
 * not see its own heartbeats echoed for 10 s is considered dead too. On
 * reconnect: SUBSCRIBE to all, own node, presence and every room with
 * local members; rewrite the own HASH (MULTI/DEL/HSET/EXPIRE/EXEC, Redis
 * may have lost it); publish a heartbeat flagged "hello", which makes
 * every peer answer with its own heartbeat at once, so mismatches are
 * found and re-read within a round trip, and peers that died meanwhile
 * expire 7 s later. A node that just started sees the others the same
 * way: their answers to its hello make it re-read them, so its /clients
 * and counts are complete a round trip or two after /healthz says "ok".
 * Redis disconnects a subscriber that falls behind by more than its
 * client-output-buffer-limit (pubsub, 32 MB by default): that node then
 * reconnects and resynchronises like after an outage (messages meanwhile
 * are lost to it); SESSION_PUB_BACKLOG_MAX bounds what a node queues for
 * Redis.
 *
 * Ownership: cluster_t belongs to the daemon (server/); cluster_close
 * starts the asynchronous shutdown (the loop runs until the Redis
 * connections and the adapter's handles are closed), cluster_free
 * releases the memory after the loop has stopped. The chat must not call
 * its backplane after cluster_free. */
#ifndef FASTWS_CLUSTER_H
#define FASTWS_CLUSTER_H

#include <uv.h>

#include "config/config.h"
#include "server/chat/chat.h"

typedef struct cluster_s cluster_t;

/* When cfg->redis_url is set: creates the cluster, sets chat->bp to its
 * backplane, starts connecting (nothing waits on Redis); *out NULL
 * otherwise. node_id defaults to hostname:pid. The cluster keeps its own
 * copy of the [cluster] settings (cfg->redis_host, redis_port, redis_db,
 * node_id, channel_prefix): a reload does not change them. chat is
 * borrowed for the cluster's life. 0, or -1 (logged). */
int cluster_start(uv_loop_t *loop, chat_t *chat, const config_t *cfg, cluster_t **out);

/* Shutdown: the own presence is removed (DEL of the HASH, goodbye), then
 * both connections close; bounded by a 2 s timer. Idempotent; NULL ok.
 * The backplane stays callable (and does nothing) until cluster_free. */
void cluster_close(cluster_t *cl);

/* Frees everything; call after the loop has stopped. NULL is fine. */
void cluster_free(cluster_t *cl);

#endif
