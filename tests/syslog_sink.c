/*
 * syslog_sink.c - a stand-in for the system logger in the tests:
 *
 *   syslog_sink SOCKET OUT
 *
 * binds a datagram socket at SOCKET (what syslog(3) sends to, /dev/log) and
 * appends every message it receives to OUT, one line each, until SIGTERM.
 * It says "ready" on stdout once it is bound.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct sigaction sa = {0};
	char msg[8192];
	FILE *out;
	ssize_t n;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(a.sun_path)) {
		fprintf(stderr, "usage: syslog_sink SOCKET OUT\n");
		return 2;
	}
	sa.sa_handler = on_term; /* no SA_RESTART: recv returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	out = fopen(argv[2], "a");
	if (!out) {
		fprintf(stderr, "syslog_sink: cannot open %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	memcpy(a.sun_path, argv[1], strlen(argv[1]) + 1);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		fprintf(stderr, "syslog_sink: cannot bind %s: %s\n", argv[1], strerror(errno));
		fclose(out);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	while (!stop) {
		n = recv(fd, msg, sizeof(msg) - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "syslog_sink: recv: %s\n", strerror(errno));
			return 1;
		}
		msg[n] = 0;
		fprintf(out, "%s\n", msg);
		fflush(out);
	}
	fclose(out);
	close(fd);
	return 0;
}
