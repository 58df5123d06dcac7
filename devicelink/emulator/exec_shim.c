/*
 * The virtual phone's binfmt_misc: preloaded (LD_PRELOAD) into the shell of an arm64 virtual phone that runs on an
 * x86_64 computer, it makes every exec of an arm64 ELF file start `qemu-aarch64 ... FILE ARGS` instead, as the
 * kernel would with qemu-user registered in binfmt_misc (which needs root, so it is not used). Everything else is
 * executed unchanged. Settings come from the environment:
 *   PLANESTRIKE_QEMU         path of qemu-aarch64
 *   PLANESTRIKE_QEMU_PREFIX  its -L folder: the virtual phone's arm64 /proc/cpuinfo lives there (qemu-user 7 shows
 *                            guests the host's x86 one, which LiteRT's CPU detection cannot parse)
 *   PLANESTRIKE_QEMU_CPU     its -cpu model
 * The guest does not inherit LD_PRELOAD (qemu's -U): an arm64 loader cannot load this x86_64 library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EM_AARCH64_MACHINE 183

typedef int (*execve_function)(const char *, char *const[], char *const[]);

static int is_arm64_elf(const char *path) {
    unsigned char header[20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t got = read(fd, header, sizeof header);
    close(fd);
    return got == (ssize_t)sizeof header && memcmp(header, "\177ELF", 4) == 0 && header[4] == 2 /* 64-bit */ &&
           header[5] == 1 /* little-endian */ && (header[18] | header[19] << 8) == EM_AARCH64_MACHINE;
}

static int run(const char *path, char *const argv[], char *const envp[]) {
    execve_function real_execve = (execve_function)dlsym(RTLD_NEXT, "execve");
    const char *qemu = getenv("PLANESTRIKE_QEMU");
    if (!qemu || !is_arm64_elf(path)) return real_execve(path, argv, envp);
    const char *prefix = getenv("PLANESTRIKE_QEMU_PREFIX");
    const char *cpu = getenv("PLANESTRIKE_QEMU_CPU");
    size_t count = 0;
    while (argv[count]) count++;
    char **arguments = calloc(count + 12, sizeof *arguments);
    if (!arguments) {
        errno = ENOMEM;
        return -1;
    }
    size_t n = 0;
    arguments[n++] = (char *)qemu;
    if (prefix && *prefix) {
        arguments[n++] = "-L";
        arguments[n++] = (char *)prefix;
    }
    if (cpu && *cpu) {
        arguments[n++] = "-cpu";
        arguments[n++] = (char *)cpu;
    }
    arguments[n++] = "-U";
    arguments[n++] = "LD_PRELOAD";
    arguments[n++] = "-0";
    arguments[n++] = count ? argv[0] : (char *)path;
    arguments[n++] = (char *)path;
    for (size_t i = 1; i < count; i++) arguments[n++] = argv[i];
    arguments[n] = NULL;
    int status = real_execve(qemu, arguments, envp);
    int saved = errno;
    free(arguments);
    errno = saved;
    return status;
}

int execve(const char *path, char *const argv[], char *const envp[]) { return run(path, argv, envp); }

int execv(const char *path, char *const argv[]) { return run(path, argv, environ); }

/* execvp and execvpe: the PATH search of the shell's `exec NAME`, then the same check. */
static int search(const char *file, char *const argv[], char *const envp[]) {
    if (strchr(file, '/')) return run(file, argv, envp);
    const char *path = getenv("PATH");
    if (!path) path = "/bin:/usr/bin";
    char candidate[PATH_MAX];
    for (const char *start = path;; start = strchr(start, ':') + 1) {
        const char *end = strchr(start, ':');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        if (snprintf(candidate, sizeof candidate, "%.*s/%s", (int)length, length ? start : ".", file) <
                (int)sizeof candidate &&
            access(candidate, X_OK) == 0)
            return run(candidate, argv, envp);
        if (!end) break;
    }
    errno = ENOENT;
    return -1;
}

int execvp(const char *file, char *const argv[]) { return search(file, argv, environ); }

int execvpe(const char *file, char *const argv[], char *const envp[]) { return search(file, argv, envp); }
