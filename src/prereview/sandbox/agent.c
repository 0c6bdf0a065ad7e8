/*
 * prereview sandbox exec agent: PID 1 of every sandbox host.
 *
 * Built once per host by prereview (static, so it runs in any root) and started by bwrap inside
 * the sandbox's namespaces, with no capabilities, the seccomp filter and no_new_privs already in
 * place. It speaks only over the SOCK_SEQPACKET control socket the evaluator handed to bwrap
 * (fd given as argv[1]; argv[2], if given, is the fd it was executed from, closed at once);
 * nothing inside the sandbox can connect to it.
 *
 * Why PID 1: the kernel never delivers a signal to a namespace's init from inside the namespace
 * unless init handles it (this program handles none), so `kill -9 -1` cannot take it down; and
 * when it exits (control socket closed: the evaluator is gone) the kernel kills every process of
 * the sample. It is non-dumpable: same-uid commands cannot ptrace it, read /proc/1/mem or take
 * its descriptors.
 *
 * Requests: NUL-separated fields, descriptors passed alongside (SCM_RIGHTS).
 *   "E" id flags [payload...]   fds: stdout stderr status [stdin] [payload memfd]
 *        flags: 'i' stdin given, 'm' payload in a memfd (large argv/env) instead of inline.
 *        payload: cwd cpu as nproc argc argv... envc env...   (limits "-" for none)
 *        The command starts in a session of its own as a child subreaper (the attribute survives
 *        execve), so every process it starts stays its descendant while it runs, even one that
 *        double-forks or calls setsid. The agent writes "started PID" to status, then "exit CODE"
 *        (128 + signal when killed) or "error STAGE ERRNO", and closes it.
 *   "K" id                      kill that exec's command and all its descendants
 *   "S"                         fds: pipes whose reader left; drain them so that background
 *                               writers neither block nor die of SIGPIPE
 *   "O" mode path               fds: reply socket; answered "OK" + an fd opened as the sandbox
 *                               user sees the path (mode "r" or "w", parents created), or "E" errno
 * The agent answers "R" once, when ready.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG (64 * 1024)
#define MAX_PAYLOAD (16 * 1024 * 1024)
#define MAX_FDS 8
#define MAX_JOBS 4096
#define MAX_SINKS 4096
#define ID_LEN 40

extern char **environ;

struct job {
    pid_t pid;
    int status_fd;
    int killing; /* reaped during a kill: its exit is reported once its whole tree is gone */
    int reaped, code;
    char id[ID_LEN];
};

static struct job jobs[MAX_JOBS];
static int job_count;
static int sinks[MAX_SINKS];
static int sink_count;
static int control_fd, epoll_fd, signal_fd;
static dev_t proc_dev;
static char message[MAX_MSG + 1];

static void close_quietly(int fd) {
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
}

/* The next NUL-terminated field of [*cursor, end), or NULL when there is none. */
static char *next_field(char **cursor, char *end) {
    char *start = *cursor;
    if (start >= end) return NULL;
    char *nul = memchr(start, '\0', (size_t)(end - start));
    if (nul == NULL) return NULL;
    *cursor = nul + 1;
    return start;
}

static int write_all(int fd, const char *text) {
    size_t left = strlen(text);
    while (left > 0) {
        ssize_t n = write(fd, text, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        text += n;
        left -= (size_t)n;
    }
    return 0;
}

static void report(int fd, const char *kind, const char *stage, int code) {
    char line[96];
    if (stage != NULL)
        snprintf(line, sizeof line, "%s %s %d\n", kind, stage, code);
    else
        snprintf(line, sizeof line, "%s %d\n", kind, code);
    write_all(fd, line);
}

/* ---- starting a command ---- */

static int parse_limit(const char *value, rlim_t *limit) {
    if (value == NULL || strcmp(value, "-") == 0) return 0;
    char *end;
    unsigned long long parsed = strtoull(value, &end, 10);
    if (*end != '\0' || end == value) return -1;
    *limit = (rlim_t)parsed;
    return 1;
}

/* execvp's search, done before vfork (the child may only make system calls): the first
 * executable candidate on the command's own PATH; EACCES if only unexecutable ones exist. */
static int resolve(const char *name, char **envp, const char *cwd, char *out, size_t size) {
    if (strchr(name, '/') != NULL) {
        snprintf(out, size, "%s", name);
        return 0;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char **e = envp; *e != NULL; e++)
        if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
    int seen_eacces = 0;
    for (;;) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len == 0) /* an empty entry is the command's cwd; relative entries are under it */
            snprintf(out, size, "%s/%s", cwd, name);
        else if (path[0] != '/')
            snprintf(out, size, "%s/%.*s/%s", cwd, (int)len, path, name);
        else
            snprintf(out, size, "%.*s/%s", (int)len, path, name);
        struct stat st;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(out, X_OK) == 0) return 0;
            seen_eacces = 1;
        }
        if (colon == NULL) break;
        path = colon + 1;
    }
    return seen_eacces ? EACCES : ENOENT;
}

struct spawn {
    char **argv, **envp;
    const char *cwd, *file;
    rlim_t limits[3];
    int has_limit[3];
    int in, out, err, failure;
};

static const int limit_resources[3] = {RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC};

/* In the vfork child: only system calls, then execve; a failure is written to the pipe. */
static __attribute__((noreturn)) void child_exec(const struct spawn *sp) {
    int stage = 0, code;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (setsid() < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) goto fail;
    if (dup2(sp->in, 0) < 0 || dup2(sp->out, 1) < 0 || dup2(sp->err, 2) < 0) goto fail;
    stage = 1;
    if (chdir(sp->cwd) != 0) goto fail;
    stage = 2;
    for (int i = 0; i < 3; i++) {
        if (!sp->has_limit[i]) continue;
        /* CPU: SIGXCPU at the limit, SIGKILL a second later */
        struct rlimit rl = {sp->limits[i], sp->limits[i] + (i == 0 ? 1 : 0)};
        if (setrlimit(limit_resources[i], &rl) != 0) goto fail;
    }
    stage = 3;
    execve(sp->file, sp->argv, sp->envp);
    if (errno == ENOEXEC) { /* a script without #!: run it with sh, as execvp does */
        char *shell[2050];
        int n = 0;
        shell[n++] = "sh";
        shell[n++] = (char *)sp->file;
        for (int i = 1; sp->argv[i] != NULL && n < 2049; i++) shell[n++] = sp->argv[i];
        shell[n] = NULL;
        execve("/bin/sh", shell, sp->envp);
    }
fail:
    code = errno | (stage << 24);
    if (write(sp->failure, &code, sizeof code) < 0) _exit(126);
    _exit(127);
}

/* vfork in a frame of its own, so that nothing of the caller's can be clobbered by the child. */
static __attribute__((noinline)) pid_t spawn(const struct spawn *sp) {
    pid_t pid = vfork(); /* the child runs at once, in our time slice, until execve */
    if (pid == 0) child_exec(sp);
    return pid;
}

static const char *stage_name(int stage) {
    static const char *names[] = {"setup", "cwd", "limits", "exec"};
    return stage >= 0 && stage < 4 ? names[stage] : "setup";
}

/* Start one command; returns its pid, or -1 after reporting the failure on status. */
static pid_t start_command(char *payload, char *end, int in, int out, int err, int status) {
    char *cursor = payload;
    struct spawn sp = {.in = in, .out = out, .err = err};
    sp.cwd = next_field(&cursor, end);
    const char *limits[3];
    for (int i = 0; i < 3; i++) limits[i] = next_field(&cursor, end);
    char *argc_text = next_field(&cursor, end);
    long argc = argc_text ? strtol(argc_text, NULL, 10) : 0;
    if (sp.cwd == NULL || argc <= 0 || argc > 1 << 20) {
        report(status, "error", "request", EINVAL);
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        int rc = parse_limit(limits[i], &sp.limits[i]);
        if (rc < 0) {
            report(status, "error", "request", EINVAL);
            return -1;
        }
        sp.has_limit[i] = rc;
    }
    sp.argv = calloc((size_t)argc + 1, sizeof(char *));
    for (long i = 0; sp.argv != NULL && i < argc; i++) sp.argv[i] = next_field(&cursor, end);
    char *envc_text = next_field(&cursor, end);
    long envc = envc_text ? strtol(envc_text, NULL, 10) : -1;
    if (envc >= 0 && envc <= 1 << 20) sp.envp = calloc((size_t)envc + 1, sizeof(char *));
    for (long i = 0; sp.envp != NULL && i < envc; i++) sp.envp[i] = next_field(&cursor, end);
    pid_t pid = -1;
    if (sp.argv == NULL || sp.envp == NULL || sp.argv[argc - 1] == NULL ||
        (envc > 0 && sp.envp[envc - 1] == NULL)) {
        report(status, "error", "request", EINVAL);
        goto done;
    }
    char file[4096];
    int missing = resolve(sp.argv[0], sp.envp, sp.cwd, file, sizeof file);
    if (missing) {
        report(status, "error", "exec", missing);
        goto done;
    }
    sp.file = file;
    int failure[2];
    if (pipe2(failure, O_CLOEXEC) != 0) {
        report(status, "error", "fork", errno);
        goto done;
    }
    sp.failure = failure[1];
    pid = spawn(&sp);
    close(failure[1]);
    if (pid < 0) {
        report(status, "error", "fork", errno);
    } else {
        int code = 0;
        if (read(failure[0], &code, sizeof code) == (ssize_t)sizeof code) {
            waitpid(pid, NULL, 0);
            report(status, "error", stage_name(code >> 24), code & 0xFFFFFF);
            pid = -1;
        } else {
            char line[48];
            snprintf(line, sizeof line, "started %d\n", (int)pid);
            write_all(status, line);
        }
    }
    close(failure[0]);
done:
    free(sp.argv);
    free(sp.envp);
    return pid;
}

/* ---- killing a command's tree ---- */

struct proc_entry {
    pid_t pid, ppid;
    int zombie;
};

static int list_processes(struct proc_entry *entries, int capacity) {
    DIR *dir = opendir("/proc");
    if (dir == NULL) return 0;
    struct dirent *entry;
    int n = 0;
    char path[300], buffer[512];
    while ((entry = readdir(dir)) != NULL && n < capacity) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t len = read(fd, buffer, sizeof buffer - 1);
        close(fd);
        if (len <= 0) continue;
        buffer[len] = '\0';
        char *paren = strrchr(buffer, ')');
        if (paren == NULL) continue;
        char state;
        int ppid;
        if (sscanf(paren + 1, " %c %d", &state, &ppid) != 2) continue;
        entries[n].pid = atoi(entry->d_name);
        entries[n].ppid = ppid;
        entries[n].zombie = state == 'Z' || state == 'X';
        n++;
    }
    closedir(dir);
    return n;
}

/* SIGKILL a command's descendants until none is left, then the command itself.
 * Descendants go first: while the command (a subreaper) lives, orphans of its tree are
 * re-parented to it, so a process that double-forks or calls setsid cannot slip out. */
#define MAX_VICTIMS 32768
static pid_t victims[MAX_VICTIMS];
static int victim_count;

static void kill_tree(pid_t root) {
    static struct proc_entry entries[32768];
    static pid_t queue[32768];
    victim_count = 0;
    for (int round = 0; round < 1000; round++) {
        int n = list_processes(entries, 32768);
        int head = 0, tail = 0, killed = 0;
        queue[tail++] = root;
        while (head < tail) {
            pid_t parent = queue[head++];
            for (int i = 0; i < n; i++) {
                if (entries[i].ppid == parent && tail < 32768) {
                    queue[tail++] = entries[i].pid;
                    if (victim_count < MAX_VICTIMS) victims[victim_count++] = entries[i].pid;
                    if (!entries[i].zombie) {
                        kill(entries[i].pid, SIGKILL);
                        killed++;
                    }
                }
            }
        }
        if (killed == 0) break;
    }
    kill(root, SIGKILL);
}

static void finish(int index) {
    report(jobs[index].status_fd, "exit", NULL, jobs[index].code);
    close(jobs[index].status_fd); /* the evaluator returns on this EOF */
    jobs[index] = jobs[--job_count];
}

static void reap(void) {
    int wstatus;
    pid_t pid;
    while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
        for (int i = 0; i < job_count; i++) {
            if (jobs[i].pid != pid) continue;
            jobs[i].code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
            jobs[i].reaped = 1;
            if (!jobs[i].killing) finish(i);
            break;
        }
    }
}

/* After a kill: reap until the command and every victim are gone (bounded, 2 s), so that when
 * the evaluator learns the command ended, nothing of its tree exists any more, not even as a
 * zombie. */
static void await_tree_gone(pid_t root) {
    struct timespec pause = {0, 1000000};
    for (int tries = 0; tries < 2000; tries++) {
        reap();
        int alive = kill(root, 0) == 0;
        for (int i = 0; !alive && i < victim_count; i++) alive = kill(victims[i], 0) == 0;
        if (!alive) break;
        nanosleep(&pause, NULL);
    }
    for (int i = 0; i < job_count; i++) {
        if (jobs[i].pid == root) {
            if (jobs[i].reaped) finish(i);
            else jobs[i].killing = 0; /* not gone after 2 s: report whenever it is reaped */
            break;
        }
    }
}

/* ---- requests ---- */

/* Takes ownership of every fd in fds. */
static void handle_exec(char *cursor, char *end, int *fds, int nfds) {
    char *id = next_field(&cursor, end);
    char *flags = next_field(&cursor, end);
    int has_stdin = flags != NULL && strchr(flags, 'i') != NULL;
    int has_memfd = flags != NULL && strchr(flags, 'm') != NULL;
    if (id == NULL || flags == NULL || nfds != 3 + has_stdin + has_memfd) {
        if (nfds >= 3) report(fds[2], "error", "request", EINVAL);
        for (int i = 0; i < nfds; i++) close(fds[i]);
        return;
    }
    int out = fds[0], err = fds[1], status = fds[2];
    int in = has_stdin ? fds[3] : open("/dev/null", O_RDONLY | O_CLOEXEC);
    int memfd = has_memfd ? fds[3 + has_stdin] : -1;
    char *payload = cursor, *payload_end = end;
    size_t mapped = 0;
    if (memfd >= 0) {
        struct stat st;
        if (fstat(memfd, &st) == 0 && st.st_size > 0 && st.st_size <= MAX_PAYLOAD) {
            mapped = (size_t)st.st_size;
            payload = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE, memfd, 0);
        }
        if (mapped == 0 || payload == MAP_FAILED) {
            payload = NULL;
        } else {
            payload_end = payload + mapped;
        }
    }
    pid_t pid = -1;
    if (payload == NULL)
        report(status, "error", "request", E2BIG);
    else if (job_count >= MAX_JOBS)
        report(status, "error", "fork", EAGAIN);
    else
        pid = start_command(payload, payload_end, in, out, err, status);
    if (pid > 0) {
        jobs[job_count].pid = pid;
        jobs[job_count].status_fd = status;
        jobs[job_count].killing = jobs[job_count].reaped = jobs[job_count].code = 0;
        snprintf(jobs[job_count].id, ID_LEN, "%s", id);
        job_count++;
    } else {
        close(status);
    }
    if (mapped > 0 && payload != NULL) munmap(payload, mapped);
    close(out);
    close(err);
    close_quietly(in);
    close_quietly(memfd);
}

static void handle_kill(char *cursor, char *end) {
    char *id = next_field(&cursor, end);
    if (id == NULL) return;
    for (int i = 0; i < job_count; i++) {
        if (strncmp(jobs[i].id, id, ID_LEN) != 0 || jobs[i].killing) continue;
        pid_t root = jobs[i].pid;
        jobs[i].killing = 1;
        kill_tree(root);
        await_tree_gone(root);
        break;
    }
}

static void handle_sink(int *fds, int nfds) {
    for (int i = 0; i < nfds; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (sink_count >= MAX_SINKS || epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            close(fds[i]);
            continue;
        }
        fcntl(fds[i], F_SETFL, O_NONBLOCK);
        sinks[sink_count++] = fds[i];
    }
}

static void drain(int fd) {
    char buffer[65536];
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) return;
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    for (int i = 0; i < sink_count; i++) {
        if (sinks[i] == fd) {
            sinks[i] = sinks[--sink_count];
            break;
        }
    }
}

static int make_parents(char *path) {
    for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        int rc = mkdir(path, 0777);
        int code = errno;
        *slash = '/';
        if (rc != 0 && code != EEXIST) {
            errno = code;
            return -1;
        }
    }
    return 0;
}

static void handle_open(char *cursor, char *end, int *fds, int nfds) {
    if (nfds != 1) return;
    int reply = fds[0];
    char *mode = next_field(&cursor, end);
    char *path = next_field(&cursor, end);
    int fd = -1, code = 0;
    if (mode == NULL || path == NULL || path[0] != '/') {
        code = EINVAL;
    } else {
        int flags = O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        if (mode[0] == 'w') {
            if (make_parents(path) != 0)
                code = errno;
            else
                fd = open(path, flags | O_WRONLY | O_CREAT | O_TRUNC, 0666);
        } else {
            fd = open(path, flags | O_RDONLY);
        }
        if (code == 0 && fd < 0) code = errno;
    }
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) != 0)
            code = errno;
        else if (st.st_dev == proc_dev) /* /proc/1/... would be this agent's own memory */
            code = EACCES;
        else if (S_ISDIR(st.st_mode))
            code = EISDIR;
        else if (!S_ISREG(st.st_mode))
            code = EINVAL;
        else
            fcntl(fd, F_SETFL, 0);
    }
    if (code == 0) {
        char ok[] = "OK";
        struct iovec iov = {ok, 2};
        char control[CMSG_SPACE(sizeof(int))];
        memset(control, 0, sizeof control);
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof control};
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
        sendmsg(reply, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
        char answer[32];
        int len = snprintf(answer, sizeof answer, "E%d", code);
        send(reply, answer, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close_quietly(fd);
    close(reply);
}

static void handle_request(void) {
    char control[CMSG_SPACE(MAX_FDS * sizeof(int))];
    struct iovec iov = {message, MAX_MSG};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof control};
    ssize_t len = recvmsg(control_fd, &msg, MSG_CMSG_CLOEXEC);
    if (len < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (len <= 0) _exit(0); /* the evaluator is gone: PID 1 exits, the kernel kills the rest */
    int fds[MAX_FDS];
    int nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < count && nfds < MAX_FDS; i++)
            memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    message[len] = '\0';
    char *cursor = message, *end = message + len;
    char *op = next_field(&cursor, end);
    int consumed = 0;
    if (op != NULL && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (strcmp(op, "E") == 0) {
            handle_exec(cursor, end, fds, nfds);
            consumed = 1;
        } else if (strcmp(op, "K") == 0) {
            handle_kill(cursor, end);
        } else if (strcmp(op, "S") == 0) {
            handle_sink(fds, nfds);
            consumed = 1;
        } else if (strcmp(op, "O") == 0 && nfds == 1) {
            handle_open(cursor, end, fds, nfds);
            consumed = 1;
        }
    }
    if (!consumed)
        for (int i = 0; i < nfds; i++) close(fds[i]);
}

int main(int argc, char **argv) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_NAME, "prereview-agent", 0, 0, 0);
    if (argc < 2) return 2;
    control_fd = atoi(argv[1]);
    if (argc > 2) close(atoi(argv[2])); /* the memfd this program was started from */
    /* bwrap's stdout and stderr are a log file of the evaluator's: keep none of it in here */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        close(null);
    }
    fcntl(control_fd, F_SETFD, FD_CLOEXEC);
    umask(022);
    struct stat st;
    proc_dev = stat("/proc", &st) == 0 ? st.st_dev : (dev_t)-1;
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    sigprocmask(SIG_BLOCK, &child, NULL);
    signal_fd = signalfd(-1, &child, SFD_CLOEXEC | SFD_NONBLOCK);
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (signal_fd < 0 || epoll_fd < 0) return 3;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = control_fd};
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, control_fd, &ev);
    ev.data.fd = signal_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, signal_fd, &ev);
    if (send(control_fd, "R", 1, MSG_NOSIGNAL) != 1) return 4;
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == control_fd) {
                reap(); /* finished commands first: a new one must not see their zombies */
                handle_request();
            } else if (fd == signal_fd) {
                struct signalfd_siginfo info;
                while (read(signal_fd, &info, sizeof info) > 0) {
                }
                reap();
            } else {
                drain(fd);
            }
        }
        reap();
    }
}
