/*
 * planestrike_runner: the persistent on-device runner of docs/device-protocol.md ("planestrike-runner/1"),
 * on LiteRT's own C API (the CompiledModel API of libLiteRt.so from the ai-edge-litert wheel).
 *
 *   planestrike_runner --model PATH [--threads N]
 *
 * Loads the model once, prints one `ready` line, then answers one line per request on stdin:
 *   eval ID HEX  ->  ok ID LATENCY_US HEX      (raw float32 bytes in and out, hex-encoded)
 *   ping ID      ->  pong ID
 *   quit         ->  exits with status 0 (so does the end of stdin)
 * and `error ID MESSAGE` for a request it cannot serve (`error - MESSAGE` before `ready`, then exit 1).
 *
 * libLiteRt.so is opened with dlopen, found the way the dynamic loader finds libraries (on the phone: the
 * `--library-path` given to the bundled glibc loader), so this file builds with nothing but a C compiler and
 * libc, and a missing or wrong library is one protocol line instead of a loader crash.
 *
 * The declarations below are the few this program uses, taken from LiteRT 2.3.0's public C headers
 * (github.com/google-ai-edge/LiteRT, litert/c/: litert_common.h, litert_environment.h, litert_model.h,
 * litert_model_types.h, litert_layout.h, litert_options.h, litert_opaque_options.h, litert_compiled_model.h,
 * litert_tensor_buffer.h) and checked against the symbols libLiteRt.so 2.3.0 exports. Every prototype matters:
 * in 2.3.0 LiteRtCreateModelFromFile takes the environment first, and a wrong prototype fails silently.
 */
#define _POSIX_C_SOURCE 200809L

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROTOCOL "planestrike-runner/1"
#define BACKEND "litert-cpu-xnnpack"
#define MAX_LINE_BYTES 65536 /* the protocol's limit on one line */
#define MAX_THREADS 64
#define MAX_TENSOR_BYTES (1 << 20) /* a Plane Strike board is 256 bytes; refuse models far beyond that */

/* ---- LiteRT 2.3.0 C API: types (litert_common.h, litert_model_types.h, litert_layout.h) ------------------- */
typedef int LiteRtStatus; /* enum; kLiteRtStatusOk = 0 */
enum { kLiteRtStatusOk = 0 };
typedef size_t LiteRtParamIndex;
typedef struct LiteRtEnvironmentT *LiteRtEnvironment;
typedef struct LiteRtModelT *LiteRtModel;
typedef struct LiteRtSignatureT *LiteRtSignature;
typedef struct LiteRtTensorT *LiteRtTensor;
typedef struct LiteRtOptionsT *LiteRtOptions;
typedef struct LiteRtOpaqueOptionsT *LiteRtOpaqueOptions;
typedef struct LiteRtCompiledModelT *LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT *LiteRtTensorBuffer;
typedef struct LiteRtTensorBufferRequirementsT *LiteRtTensorBufferRequirements;
typedef int LiteRtHwAcceleratorSet;
enum { kLiteRtHwAcceleratorCpu = 1 << 0 };
typedef enum { kLiteRtElementTypeFloat32 = 1 } LiteRtElementType;
typedef enum { kLiteRtTensorBufferLockModeRead = 0, kLiteRtTensorBufferLockModeWrite = 1 } LiteRtTensorBufferLockMode;
#define LITERT_TENSOR_MAX_RANK 8
typedef struct { /* ABI-stable: 68 bytes */
    unsigned int rank : 7;
    unsigned int has_strides : 1;
    int32_t dimensions[LITERT_TENSOR_MAX_RANK];
    uint32_t strides[LITERT_TENSOR_MAX_RANK];
} LiteRtLayout;
typedef struct { /* ABI-stable: 72 bytes, layout at offset 4 */
    LiteRtElementType element_type;
    LiteRtLayout layout;
} LiteRtRankedTensorType;
_Static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout must match LiteRT 2.3.0");
_Static_assert(sizeof(LiteRtRankedTensorType) == 72, "LiteRtRankedTensorType must match LiteRT 2.3.0");
_Static_assert(offsetof(LiteRtRankedTensorType, layout) == 4, "LiteRtRankedTensorType must match LiteRT 2.3.0");

/* ---- LiteRT 2.3.0 C API: the functions used, resolved from libLiteRt.so at start ----------------------------- */
static struct {
    LiteRtStatus (*CreateEnvironment)(int num_options, const void *options, LiteRtEnvironment *environment);
    void (*DestroyEnvironment)(LiteRtEnvironment environment);
    LiteRtStatus (*CreateModelFromFile)(LiteRtEnvironment environment, const char *filename, LiteRtModel *model);
    void (*DestroyModel)(LiteRtModel model);
    LiteRtStatus (*GetNumModelSignatures)(LiteRtModel model, LiteRtParamIndex *num_signatures);
    LiteRtStatus (*GetModelSignature)(LiteRtModel model, LiteRtParamIndex index, LiteRtSignature *signature);
    LiteRtStatus (*GetNumSignatureInputs)(LiteRtSignature signature, LiteRtParamIndex *num_inputs);
    LiteRtStatus (*GetNumSignatureOutputs)(LiteRtSignature signature, LiteRtParamIndex *num_outputs);
    LiteRtStatus (*GetSignatureInputTensorByIndex)(LiteRtSignature signature, LiteRtParamIndex index,
                                                   LiteRtTensor *tensor);
    LiteRtStatus (*GetSignatureOutputTensorByIndex)(LiteRtSignature signature, LiteRtParamIndex index,
                                                    LiteRtTensor *tensor);
    LiteRtStatus (*GetRankedTensorType)(LiteRtTensor tensor, LiteRtRankedTensorType *type);
    LiteRtStatus (*CreateOptions)(LiteRtOptions *options);
    void (*DestroyOptions)(LiteRtOptions options);
    LiteRtStatus (*SetOptionsHardwareAccelerators)(LiteRtOptions options, LiteRtHwAcceleratorSet accelerators);
    LiteRtStatus (*CreateOpaqueOptions)(const char *payload_identifier, void *payload_data,
                                        void (*payload_destructor)(void *payload_data), LiteRtOpaqueOptions *options);
    LiteRtStatus (*AddOpaqueOptions)(LiteRtOptions options, LiteRtOpaqueOptions opaque_options);
    LiteRtStatus (*CreateCompiledModel)(LiteRtEnvironment environment, LiteRtModel model, LiteRtOptions options,
                                        LiteRtCompiledModel *compiled_model);
    void (*DestroyCompiledModel)(LiteRtCompiledModel compiled_model);
    LiteRtStatus (*GetCompiledModelInputBufferRequirements)(LiteRtCompiledModel compiled_model,
                                                            LiteRtParamIndex signature_index,
                                                            LiteRtParamIndex input_index,
                                                            LiteRtTensorBufferRequirements *requirements);
    LiteRtStatus (*GetCompiledModelOutputBufferRequirements)(LiteRtCompiledModel compiled_model,
                                                             LiteRtParamIndex signature_index,
                                                             LiteRtParamIndex output_index,
                                                             LiteRtTensorBufferRequirements *requirements);
    LiteRtStatus (*CreateManagedTensorBufferFromRequirements)(LiteRtEnvironment environment,
                                                              const LiteRtRankedTensorType *tensor_type,
                                                              LiteRtTensorBufferRequirements requirements,
                                                              LiteRtTensorBuffer *buffer);
    void (*DestroyTensorBuffer)(LiteRtTensorBuffer buffer);
    LiteRtStatus (*LockTensorBuffer)(LiteRtTensorBuffer buffer, void **host_address, LiteRtTensorBufferLockMode mode);
    LiteRtStatus (*UnlockTensorBuffer)(LiteRtTensorBuffer buffer);
    LiteRtStatus (*RunCompiledModel)(LiteRtCompiledModel compiled_model, LiteRtParamIndex signature_index,
                                     size_t num_inputs, LiteRtTensorBuffer *inputs, size_t num_outputs,
                                     LiteRtTensorBuffer *outputs);
} litert;

#define SYMBOL(field) {"LiteRt" #field, (void **)&litert.field}
static const struct { const char *name; void **slot; } SYMBOLS[] = {
    SYMBOL(CreateEnvironment), SYMBOL(DestroyEnvironment), SYMBOL(CreateModelFromFile), SYMBOL(DestroyModel),
    SYMBOL(GetNumModelSignatures), SYMBOL(GetModelSignature), SYMBOL(GetNumSignatureInputs),
    SYMBOL(GetNumSignatureOutputs), SYMBOL(GetSignatureInputTensorByIndex), SYMBOL(GetSignatureOutputTensorByIndex),
    SYMBOL(GetRankedTensorType), SYMBOL(CreateOptions), SYMBOL(DestroyOptions), SYMBOL(SetOptionsHardwareAccelerators),
    SYMBOL(CreateOpaqueOptions), SYMBOL(AddOpaqueOptions), SYMBOL(CreateCompiledModel), SYMBOL(DestroyCompiledModel),
    SYMBOL(GetCompiledModelInputBufferRequirements), SYMBOL(GetCompiledModelOutputBufferRequirements),
    SYMBOL(CreateManagedTensorBufferFromRequirements), SYMBOL(DestroyTensorBuffer), SYMBOL(LockTensorBuffer),
    SYMBOL(UnlockTensorBuffer), SYMBOL(RunCompiledModel),
};

/* ---- replies ------------------------------------------------------------------------------------------------ */
static void reply(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stdout, format, arguments);
    va_end(arguments);
    fputc('\n', stdout);
    fflush(stdout);
}

/* A failure before `ready`: one protocol line, then exit 1. */
static int fail_to_start(const char *format, ...) {
    char message[512];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof message, format, arguments);
    va_end(arguments);
    for (char *c = message; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
    reply("error - %s", message);
    return 1;
}

/* ---- the loaded model --------------------------------------------------------------------------------------- */
typedef struct {
    LiteRtEnvironment environment;
    LiteRtModel model;
    LiteRtOptions options;
    LiteRtCompiledModel compiled;
    LiteRtTensorBuffer input, output;
    LiteRtRankedTensorType input_type, output_type;
    size_t input_bytes, output_bytes;
} Runner;

static void release(Runner *runner) {
    if (runner->output) litert.DestroyTensorBuffer(runner->output);
    if (runner->input) litert.DestroyTensorBuffer(runner->input);
    if (runner->compiled) litert.DestroyCompiledModel(runner->compiled);
    if (runner->options) litert.DestroyOptions(runner->options);
    if (runner->model) litert.DestroyModel(runner->model);
    if (runner->environment) litert.DestroyEnvironment(runner->environment);
}

/* Bytes of a float32 tensor with a static shape, 0 if it is not one (then `why` says what it is). */
static size_t float32_bytes(const LiteRtRankedTensorType *type, const char **why) {
    if (type->element_type != kLiteRtElementTypeFloat32) {
        *why = "is not float32";
        return 0;
    }
    if (type->layout.rank == 0 || type->layout.rank > LITERT_TENSOR_MAX_RANK) {
        *why = "has no usable rank";
        return 0;
    }
    size_t bytes = 4;
    for (unsigned i = 0; i < type->layout.rank; i++) {
        int32_t n = type->layout.dimensions[i];
        if (n < 0) n = 1; /* a dynamic batch dimension: one board at a time */
        if (n == 0 || bytes > MAX_TENSOR_BYTES / (size_t)n) {
            *why = "is empty or too large";
            return 0;
        }
        bytes *= (size_t)n;
    }
    return bytes;
}

/* "1x8x8" */
static void shape_text(const LiteRtRankedTensorType *type, char *text, size_t size) {
    size_t used = 0;
    text[0] = '\0';
    for (unsigned i = 0; i < type->layout.rank && used < size; i++) {
        int32_t n = type->layout.dimensions[i] < 0 ? 1 : type->layout.dimensions[i];
        used += (size_t)snprintf(text + used, size - used, i ? "x%d" : "%d", n);
    }
}

static void free_payload(void *payload) { free(payload); }

static int load(Runner *runner, const char *model_path, int threads) {
    void *library = dlopen("libLiteRt.so", RTLD_NOW | RTLD_LOCAL);
    if (!library) return fail_to_start("cannot load libLiteRt.so: %s", dlerror());
    for (size_t i = 0; i < sizeof SYMBOLS / sizeof SYMBOLS[0]; i++) {
        *SYMBOLS[i].slot = dlsym(library, SYMBOLS[i].name);
        if (!*SYMBOLS[i].slot)
            return fail_to_start("libLiteRt.so lacks %s: it is not the LiteRT 2.3 C API", SYMBOLS[i].name);
    }
    LiteRtStatus status;
    if ((status = litert.CreateEnvironment(0, NULL, &runner->environment)) != kLiteRtStatusOk)
        return fail_to_start("LiteRtCreateEnvironment failed (status %d)", status);
    if ((status = litert.CreateModelFromFile(runner->environment, model_path, &runner->model)) != kLiteRtStatusOk)
        return fail_to_start("cannot load the model %s (LiteRT status %d)", model_path, status);

    LiteRtParamIndex signatures = 0, inputs = 0, outputs = 0;
    LiteRtSignature signature = NULL;
    if (litert.GetNumModelSignatures(runner->model, &signatures) != kLiteRtStatusOk || signatures < 1 ||
        litert.GetModelSignature(runner->model, 0, &signature) != kLiteRtStatusOk ||
        litert.GetNumSignatureInputs(signature, &inputs) != kLiteRtStatusOk ||
        litert.GetNumSignatureOutputs(signature, &outputs) != kLiteRtStatusOk)
        return fail_to_start("the model %s has no usable signature", model_path);
    if (inputs != 1 || outputs != 1)
        return fail_to_start("the model has %zu inputs and %zu outputs; a Plane Strike policy has one of each",
                             (size_t)inputs, (size_t)outputs);
    LiteRtTensor input = NULL, output = NULL;
    if (litert.GetSignatureInputTensorByIndex(signature, 0, &input) != kLiteRtStatusOk ||
        litert.GetSignatureOutputTensorByIndex(signature, 0, &output) != kLiteRtStatusOk ||
        litert.GetRankedTensorType(input, &runner->input_type) != kLiteRtStatusOk ||
        litert.GetRankedTensorType(output, &runner->output_type) != kLiteRtStatusOk)
        return fail_to_start("cannot read the model's tensor types");
    const char *why = "";
    if (!(runner->input_bytes = float32_bytes(&runner->input_type, &why)))
        return fail_to_start("the model's input %s", why);
    if (!(runner->output_bytes = float32_bytes(&runner->output_type, &why)))
        return fail_to_start("the model's output %s", why);

    if ((status = litert.CreateOptions(&runner->options)) != kLiteRtStatusOk ||
        (status = litert.SetOptionsHardwareAccelerators(runner->options, kLiteRtHwAcceleratorCpu)) != kLiteRtStatusOk)
        return fail_to_start("cannot set LiteRT's compilation options (status %d)", status);
    if (threads > 0) {
        /* LiteRT 2.3.0 reads CPU options as TOML text in opaque options named "xnnpack"
           (litert/runtime/litert_cpu_options.cc); the options take ownership of the text. */
        char *toml = malloc(32);
        LiteRtOpaqueOptions cpu = NULL;
        if (!toml) return fail_to_start("out of memory");
        snprintf(toml, 32, "num_threads = %d\n", threads);
        if ((status = litert.CreateOpaqueOptions("xnnpack", toml, free_payload, &cpu)) != kLiteRtStatusOk) {
            free(toml);
            return fail_to_start("cannot create LiteRT's CPU options (status %d)", status);
        }
        if ((status = litert.AddOpaqueOptions(runner->options, cpu)) != kLiteRtStatusOk)
            return fail_to_start("cannot add LiteRT's CPU options (status %d)", status);
    }
    if ((status = litert.CreateCompiledModel(runner->environment, runner->model, runner->options,
                                             &runner->compiled)) != kLiteRtStatusOk)
        return fail_to_start("LiteRT could not compile the model for the CPU (status %d)", status);

    LiteRtTensorBufferRequirements input_requirements = NULL, output_requirements = NULL;
    if (litert.GetCompiledModelInputBufferRequirements(runner->compiled, 0, 0, &input_requirements) != kLiteRtStatusOk ||
        litert.GetCompiledModelOutputBufferRequirements(runner->compiled, 0, 0, &output_requirements) !=
            kLiteRtStatusOk ||
        litert.CreateManagedTensorBufferFromRequirements(runner->environment, &runner->input_type, input_requirements,
                                                         &runner->input) != kLiteRtStatusOk ||
        litert.CreateManagedTensorBufferFromRequirements(runner->environment, &runner->output_type,
                                                         output_requirements, &runner->output) != kLiteRtStatusOk)
        return fail_to_start("cannot create LiteRT's tensor buffers");
    return 0;
}

/* ---- one request -------------------------------------------------------------------------------------------- */
static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void evaluate(Runner *runner, const char *id, const char *hex) {
    size_t length = strlen(hex);
    if (length != 2 * runner->input_bytes) {
        reply("error %s input has %zu hex digits, the model needs %zu (%zu bytes)", id, length,
              2 * runner->input_bytes, runner->input_bytes);
        return;
    }
    void *address = NULL;
    if (litert.LockTensorBuffer(runner->input, &address, kLiteRtTensorBufferLockModeWrite) != kLiteRtStatusOk) {
        reply("error %s cannot write the input tensor", id);
        return;
    }
    unsigned char *bytes = address;
    for (size_t i = 0; i < runner->input_bytes; i++) {
        int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
        if (high < 0 || low < 0) {
            litert.UnlockTensorBuffer(runner->input);
            reply("error %s input is not hexadecimal", id);
            return;
        }
        bytes[i] = (unsigned char)(high << 4 | low);
    }
    litert.UnlockTensorBuffer(runner->input);

    double start = now_us();
    LiteRtStatus status = litert.RunCompiledModel(runner->compiled, 0, 1, &runner->input, 1, &runner->output);
    double latency_us = now_us() - start;
    if (status != kLiteRtStatusOk) {
        reply("error %s LiteRT failed to run the model (status %d)", id, status);
        return;
    }
    if (litert.LockTensorBuffer(runner->output, &address, kLiteRtTensorBufferLockModeRead) != kLiteRtStatusOk) {
        reply("error %s cannot read the output tensor", id);
        return;
    }
    static const char digits[] = "0123456789abcdef";
    static char text[2 * MAX_TENSOR_BYTES + 1];
    const unsigned char *out = address;
    for (size_t i = 0; i < runner->output_bytes; i++) {
        text[2 * i] = digits[out[i] >> 4];
        text[2 * i + 1] = digits[out[i] & 15];
    }
    text[2 * runner->output_bytes] = '\0';
    litert.UnlockTensorBuffer(runner->output);
    reply("ok %s %.1f %s", id, latency_us, text);
}

static bool is_id(const char *word) {
    size_t n = strlen(word);
    if (n < 1 || n > 18) return false;
    for (size_t i = 0; i < n; i++)
        if (word[i] < '0' || word[i] > '9') return false;
    return true;
}

/* Reads one line of at most MAX_LINE_BYTES into `line`; false at the end of stdin. A longer line is read to its
   end and reported as too long (`*too_long`), so the next request is still found. */
static bool read_line(char *line, bool *too_long) {
    size_t used = 0;
    int c;
    *too_long = false;
    while ((c = getchar()) != EOF && c != '\n') {
        if (used < MAX_LINE_BYTES) line[used++] = (char)c;
        else *too_long = true;
    }
    if (c == EOF && used == 0 && !*too_long) return false;
    if (used && line[used - 1] == '\r') used--;
    line[used] = '\0';
    return true;
}

static int serve(Runner *runner) {
    static char line[MAX_LINE_BYTES + 1];
    bool too_long;
    while (read_line(line, &too_long)) {
        if (too_long) {
            reply("error - a request line over %d bytes", MAX_LINE_BYTES);
            continue;
        }
        char *words[4] = {0};
        int count = 0;
        for (char *word = strtok(line, " \t"); word && count < 4; word = strtok(NULL, " \t")) words[count++] = word;
        if (count == 0) continue;
        if (strcmp(words[0], "quit") == 0 && count == 1) return 0;
        const char *id = count > 1 && is_id(words[1]) ? words[1] : "-";
        if (count > 1 && !is_id(words[1])) reply("error - the request id must be a decimal number");
        else if (strcmp(words[0], "ping") == 0 && count == 2) reply("pong %s", id);
        else if (strcmp(words[0], "eval") == 0 && count == 3) evaluate(runner, id, words[2]);
        else reply("error %s unknown request '%.40s' (expected eval ID HEX, ping ID or quit)", id, words[0]);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL;
    int threads = 0; /* 0: LiteRT's default */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_path = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            long n = strtol(argv[++i], &end, 10);
            if (errno || *end || n < 1 || n > MAX_THREADS) {
                reply("error - --threads must be a whole number from 1 to %d, got '%.20s'", MAX_THREADS, argv[i]);
                return 2;
            }
            threads = (int)n;
        } else {
            reply("error - usage: planestrike_runner --model PATH [--threads N]");
            return 2;
        }
    }
    if (!model_path) {
        reply("error - usage: planestrike_runner --model PATH [--threads N]");
        return 2;
    }
    Runner runner = {0};
    int status = load(&runner, model_path, threads);
    if (status == 0) {
        char input[96], output[96];
        shape_text(&runner.input_type, input, sizeof input);
        shape_text(&runner.output_type, output, sizeof output);
        reply("ready " PROTOCOL " input=float32:%s output=float32:%s backend=" BACKEND, input, output);
        status = serve(&runner);
    }
    release(&runner);
    return status;
}
