/*
 * Redis-only store tests (schema, command timeout, kill and restart, unix socket, AUTH),
 * included by test_store.c (one program, like h2o's *.c.h parts): they share its helpers.
 */
/* ---- redis ---- */

static char tmpdir[] = "/tmp/sg-store-test-XXXXXX";
static uint16_t redis_port;
static pid_t redis_pid;
static char sock_path[256];

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
        abort();
    close(fd);
    return ntohs(sin.sin_port);
}

/* a synchronous client (AUTH, SELECT done), or NULL */
static redisContext *sync_client(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (c == NULL || c->err != 0)
        goto Fail;
    redisReply *rep = redisCommand(c, "AUTH %s", PASSWORD);
    int ok = rep != NULL && rep->type == REDIS_REPLY_STATUS;
    freeReplyObject(rep);
    if (!ok || (rep = redisCommand(c, "SELECT %d", DB)) == NULL)
        goto Fail;
    freeReplyObject(rep);
    return c;
Fail:
    if (c != NULL)
        redisFree(c);
    return NULL;
}

static int start_redis(void)
{
    char port[16], logfile[300];
    snprintf(port, sizeof(port), "%u", redis_port);
    snprintf(logfile, sizeof(logfile), "%s/redis.log", tmpdir);
    if ((redis_pid = fork()) == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a crashed test */
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
               tmpdir, "--logfile", logfile, "--requirepass", PASSWORD, "--unixsocket", sock_path, "--unixsocketperm", "700", NULL);
        _exit(127);
    }
    for (uint64_t deadline = now_ms() + 10000; now_ms() < deadline; usleep(20000)) {
        int status;
        if (waitpid(redis_pid, &status, WNOHANG) == redis_pid)
            return -1;
        redisContext *c = sync_client();
        if (c != NULL) {
            redisFree(c);
            return 0;
        }
    }
    return -1;
}

static void kill_redis(int sig)
{
    kill(redis_pid, sig);
    if (sig == SIGKILL || sig == SIGTERM)
        waitpid(redis_pid, NULL, 0);
}

/* runs a command on the synchronous client; returns the integer reply or -1 */
static long long sync_int(redisContext *c, const char *cmd, const char *key, const char *arg)
{
    redisReply *rep = redisCommand(c, "%s %s %s", cmd, key, arg);
    long long v = rep != NULL && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    return v;
}

static void test_schema(sg_store_t *s)
{
    redisContext *c = sync_client();
    CHECK(c != NULL);
    if (c == NULL)
        return;
    result_t r = {0};
    CHECK(put_sbx(s, "sch-1", "tx", 4242) == NULL);
    redisReply *rep = redisCommand(c, "HGET sgtest:sbx:sch-1 backend");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "b1") == 0);
    freeReplyObject(rep);
    rep = redisCommand(c, "HGET sgtest:sbx:sch-1 expires_at_ms");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "4242") == 0);
    freeReplyObject(rep);
    CHECK_INT(sync_int(c, "EXISTS", "sgtest:idx:sbx:expiry", ""), 0); /* no expiry index: reconciliation reads the records */
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:tenant:tx:sbx", "sch-1"), 1);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:idx:sbx:all", "sch-1"), 1);

    /* a record deleted behind the store's back: skipped, and its index entries repaired */
    CHECK_INT(sync_int(c, "DEL", "sgtest:sbx:sch-1", ""), 1);
    RUN(r, sg_store_list_sandboxes(s, "tx", on_sandboxes, &r));
    CHECK(r.err == NULL);
    CHECK_STR(r.list, "");
    RUN(r, sg_store_list_sandboxes(s, NULL, on_sandboxes, &r));
    CHECK_STR(r.list, "");
    RUN(r, sg_store_get_sandbox(s, "sch-1", on_sandbox, &r)); /* the repairs were sent before this */
    CHECK(!r.found);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:tenant:tx:sbx", "sch-1"), 0);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:idx:sbx:all", "sch-1"), 0);

    /* deletion removes the index entries with the record */
    CHECK(put_sbx(s, "sch-3", "tx", 777) == NULL);
    RUN(r, sg_store_del_sandbox(s, "sch-3", on_done, &r));
    CHECK(r.err == NULL);
    CHECK_INT(sync_int(c, "EXISTS", "sgtest:sbx:sch-3", ""), 0);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:tenant:tx:sbx", "sch-3"), 0);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:idx:sbx:all", "sch-3"), 0);
    sg_snapshot_rec_t snap = {.id = "sch-4", .tenant = "tx", .backend = "b1"};
    RUN(r, sg_store_put_snapshot(s, &snap, on_done, &r));
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:tenant:tx:snap", "sch-4"), 1);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:idx:snap:all", "sch-4"), 1);
    RUN(r, sg_store_del_snapshot(s, "sch-4", on_done, &r));
    CHECK_INT(sync_int(c, "EXISTS", "sgtest:snap:sch-4", ""), 0);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:tenant:tx:snap", "sch-4"), 0);
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:idx:snap:all", "sch-4"), 0);
    RUN(r, sg_store_put_tenant(s, "tx", "{}", on_done, &r));
    rep = redisCommand(c, "GET sgtest:tenantdef:tx");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "{}") == 0);
    freeReplyObject(rep);

    /* after a change of tenant, the old tenant's set loses the id on the next list */
    CHECK(put_sbx(s, "sch-2", "tx", 0) == NULL);
    CHECK(put_sbx(s, "sch-2", "ty", 0) == NULL);
    RUN(r, sg_store_list_sandboxes(s, "tx", on_sandboxes, &r));
    CHECK_STR(r.list, "");
    RUN(r, sg_store_get_sandbox(s, "sch-2", on_sandbox, &r));
    CHECK_INT(sync_int(c, "SISMEMBER", "sgtest:tenant:tx:sbx", "sch-2"), 0);
    RUN(r, sg_store_del_sandbox(s, "sch-2", on_done, &r));
    CHECK_INT(sync_int(c, "EXISTS", "sgtest:tenant:ty:sbx", ""), 0);

    sg_key_rec_t k = {.tenant = "tx"};
    memset(k.hash, 0xab, sizeof(k.hash));
    RUN(r, sg_store_put_key(s, &k, on_done, &r));
    CHECK_INT(sync_int(c, "EXISTS", "sgtest:key:abababababababababababababababababababababababababababababababab", ""), 1);
    RUN(r, sg_store_del_key(s, k.hash, on_done, &r));

    /* a sandbox record keeps its renew extension; a claim is a plain key holding the taker, expiring with the interval */
    sg_sandbox_rec_t rec = sbx("sch-5", "tx", 0);
    rec.renew_extend_s = 1800;
    RUN(r, sg_store_put_sandbox(s, &rec, on_done, &r));
    rep = redisCommand(c, "HGET sgtest:sbx:sch-5 renew_extend_s");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "1800") == 0);
    freeReplyObject(rep);
    RUN(r, sg_store_del_sandbox(s, "sch-5", on_done, &r));
    claim_result_t cl = claim(s, "sch-6", 30000, "gw-test");
    CHECK(cl.claimed);
    rep = redisCommand(c, "GET sgtest:renew:sch-6");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "gw-test") == 0);
    freeReplyObject(rep);
    rep = redisCommand(c, "PTTL sgtest:renew:sch-6");
    CHECK(rep != NULL && rep->type == REDIS_REPLY_INTEGER && rep->integer > 25000 && rep->integer <= 30000);
    freeReplyObject(rep);
    redisFree(c);
}

static void wait_available(sg_store_t *s, uint64_t ms)
{
    for (uint64_t deadline = now_ms() + ms; !sg_store_is_available(s) && now_ms() < deadline;)
        run_until(NULL, 10);
}

static void test_timeout(sg_store_t *s)
{
    result_t r = {0};
    wait_available(s, 2000);
    kill_redis(SIGSTOP);
    RUN(r, sg_store_get_sandbox(s, "t-1", on_sandbox, &r));
    CHECK(r.err == sg_store_err_unavailable);
    CHECK(r.took_ms >= COMMAND_TIMEOUT_MS - 20);
    CHECK(r.took_ms < COMMAND_TIMEOUT_MS + 300);
    CHECK(!sg_store_is_available(s));
    /* while disconnected, operations fail fast (or within the connect timeout of a retry) */
    RUN(r, sg_store_get_sandbox(s, "t-1", on_sandbox, &r));
    CHECK(r.err == sg_store_err_unavailable);
    CHECK(r.took_ms < COMMAND_TIMEOUT_MS + 300);
    kill_redis(SIGCONT);
    wait_available(s, 10000);
    CHECK(sg_store_is_available(s));
    CHECK(put_sbx(s, "t-1", "t", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s, "t-1", on_sandbox, &r));
    CHECK(r.found);
}

static void test_kill_restart(sg_store_t *s)
{
    result_t r = {0}, pending = {0};
    CHECK(put_sbx(s, "before-restart", "t", 0) == NULL);
    /* queued but not sent yet when the server dies */
    reset(&pending);
    sg_store_get_sandbox(s, "before-restart", on_sandbox, &pending);
    kill_redis(SIGKILL);
    run_until(&pending.called, 5000);
    CHECK(pending.called);
    CHECK(pending.err == sg_store_err_unavailable);
    CHECK(pending.took_ms < COMMAND_TIMEOUT_MS + 300);
    CHECK(!sg_store_is_available(s));
    CHECK(sg_store_is_down(s)); /* just lost: the first retry waits 100 ms */
    for (int i = 0; i != 3; ++i) {
        RUN(r, sg_store_put_sandbox(s, &(sg_sandbox_rec_t){.id = "x", .tenant = "t", .backend = "b"}, on_done, &r));
        CHECK(r.err == sg_store_err_unavailable);
        CHECK(r.took_ms < COMMAND_TIMEOUT_MS + 300);
        run_until(NULL, 150);
    }
    CHECK(start_redis() == 0);
    wait_available(s, 10000);
    CHECK(sg_store_is_available(s));
    CHECK(!sg_store_is_down(s));
    RUN(r, sg_store_get_sandbox(s, "before-restart", on_sandbox, &r));
    CHECK(r.err == NULL);
    CHECK(!r.found); /* no persistence */
    CHECK(put_sbx(s, "after-restart", "t", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s, "after-restart", on_sandbox, &r));
    CHECK(r.err == NULL);
    CHECK(r.found);
}

/* reopens the store with another configuration */
static sg_store_t *reopen(sg_store_t *s, sg_loop_t *l, sg_store_conf_t *conf)
{
    sg_store_close(s);
    sg_store_global_dispose();
    CHECK_INT(sg_store_global_init(conf), 0);
    return sg_store_open(l);
}

static sg_store_t *test_other_connections(sg_store_t *s, sg_loop_t *l, sg_store_conf_t *conf)
{
    result_t r = {0};
    conf->host = NULL;
    conf->unix_path = sock_path;
    s = reopen(s, l, conf);
    CHECK(put_sbx(s, "via-unix", "t", 0) == NULL);
    RUN(r, sg_store_get_sandbox(s, "via-unix", on_sandbox, &r));
    CHECK(r.found);
    CHECK(sg_store_is_available(s));

    conf->password = "wrong";
    s = reopen(s, l, conf);
    RUN(r, sg_store_get_sandbox(s, "via-unix", on_sandbox, &r));
    CHECK(r.err == sg_store_err_unavailable);
    CHECK(r.took_ms < COMMAND_TIMEOUT_MS + 300);
    run_until(NULL, 100);
    CHECK(!sg_store_is_available(s));
    return s;
}
