/*
 * A Redis module data type for rdbtool's tests: lets redis-server write
 * RDB type-7 module values (and a module AUX record) that hold every kind
 * of operand the module API saves (unsigned, signed, double, float,
 * string), so the reader and salvage are tested on files a real server
 * wrote with module values in them.
 *
 * The module API is reached through the function table the server hands
 * the module (the first word of the load context, `RedisModule_GetApi`):
 * only the dozen functions used here are declared below, with the
 * signatures of the Redis 7 module API, instead of vendoring the server's
 * 2,000-line redismodule.h for them.
 *
 * Command: RDBTOOLT.SET key kind value [kind value ...]
 *   kind U (unsigned), S (signed), D (double), F (float), B (bytes).
 * Build: cc -shared -fPIC -O1 -o rdbtool_test_type.so rdbtool_test_type.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct RedisModuleCtx Ctx;
typedef struct RedisModuleString Str;
typedef struct RedisModuleKey Key;
typedef struct RedisModuleIO IO;
typedef struct RedisModuleType ModType;

/* RedisModuleTypeMethods, version 2 (with the AUX callbacks). */
struct TypeMethods {
    uint64_t version;
    void *(*rdb_load)(IO *, int);
    void (*rdb_save)(IO *, void *);
    void (*aof_rewrite)(IO *, Str *, void *);
    size_t (*mem_usage)(const void *);
    void (*digest)(void *, void *);
    void (*free)(void *);
    int (*aux_load)(IO *, int, int);
    void (*aux_save)(IO *, int);
    int aux_save_triggers;
};

#define OK 0
#define ERR 1
#define KEY_READ_WRITE 3
#define KEYTYPE_EMPTY 0
#define AUX_AFTER_RDB 2

static int (*GetApi)(const char *, void *);
static void (*SetModuleAttribs)(Ctx *, const char *, int, int);
static int (*CreateCommand)(Ctx *, const char *, int (*)(Ctx *, Str **, int),
                            const char *, int, int, int);
static ModType *(*CreateDataType)(Ctx *, const char *, int, struct TypeMethods *);
static Key *(*OpenKey)(Ctx *, Str *, int);
static void (*CloseKey)(Key *);
static int (*KeyType)(Key *);
static int (*ModuleTypeSetValue)(Key *, ModType *, void *);
static const char *(*StringPtrLen)(Str *, size_t *);
static int (*ReplyWithSimpleString)(Ctx *, const char *);
static int (*ReplyWithError)(Ctx *, const char *);
static int (*WrongArity)(Ctx *);
static void (*SaveUnsigned)(IO *, uint64_t);
static void (*SaveSigned)(IO *, int64_t);
static void (*SaveDouble)(IO *, double);
static void (*SaveFloat)(IO *, float);
static void (*SaveStringBuffer)(IO *, const char *, size_t);
static uint64_t (*LoadUnsigned)(IO *);
static int64_t (*LoadSigned)(IO *);
static double (*LoadDouble)(IO *);
static float (*LoadFloat)(IO *);
static char *(*LoadStringBuffer)(IO *, size_t *);
static void (*Free)(void *);

static ModType *type;
/* Values set since the server started: saved in the module's AUX record. */
static uint64_t values_set;

struct Item {
    char kind;
    union {
        uint64_t u;
        int64_t s;
        double d;
        float f;
    } n;
    char *bytes;
    size_t len;
};

struct Value {
    size_t count;
    struct Item *items;
};

static void value_free(void *p) {
    struct Value *v = p;
    for (size_t i = 0; i < v->count; i++) free(v->items[i].bytes);
    free(v->items);
    free(v);
}

static void value_save(IO *io, void *p) {
    struct Value *v = p;
    SaveUnsigned(io, v->count);
    for (size_t i = 0; i < v->count; i++) {
        struct Item *it = &v->items[i];
        SaveUnsigned(io, (uint64_t)it->kind);
        switch (it->kind) {
        case 'U': SaveUnsigned(io, it->n.u); break;
        case 'S': SaveSigned(io, it->n.s); break;
        case 'D': SaveDouble(io, it->n.d); break;
        case 'F': SaveFloat(io, it->n.f); break;
        default: SaveStringBuffer(io, it->bytes, it->len); break;
        }
    }
}

static void *value_load(IO *io, int encver) {
    (void)encver;
    struct Value *v = calloc(1, sizeof *v);
    v->count = LoadUnsigned(io);
    v->items = calloc(v->count ? v->count : 1, sizeof *v->items);
    for (size_t i = 0; i < v->count; i++) {
        struct Item *it = &v->items[i];
        it->kind = (char)LoadUnsigned(io);
        switch (it->kind) {
        case 'U': it->n.u = LoadUnsigned(io); break;
        case 'S': it->n.s = LoadSigned(io); break;
        case 'D': it->n.d = LoadDouble(io); break;
        case 'F': it->n.f = LoadFloat(io); break;
        default: {
            char *b = LoadStringBuffer(io, &it->len);
            it->bytes = malloc(it->len ? it->len : 1);
            memcpy(it->bytes, b, it->len);
            Free(b);
        }
        }
    }
    return v;
}

static void aux_save(IO *io, int when) {
    (void)when;
    SaveStringBuffer(io, "rdbtool", 7);
    SaveUnsigned(io, values_set);
}

static int aux_load(IO *io, int encver, int when) {
    (void)encver;
    (void)when;
    size_t len;
    Free(LoadStringBuffer(io, &len));
    values_set = LoadUnsigned(io);
    return OK;
}

static int set_command(Ctx *ctx, Str **argv, int argc) {
    if (argc < 2 || argc % 2) return WrongArity(ctx);
    struct Value *v = calloc(1, sizeof *v);
    v->count = (size_t)(argc - 2) / 2;
    v->items = calloc(v->count ? v->count : 1, sizeof *v->items);
    for (size_t i = 0; i < v->count; i++) {
        size_t klen, len;
        const char *kind = StringPtrLen(argv[2 + 2 * i], &klen);
        const char *arg = StringPtrLen(argv[3 + 2 * i], &len);
        struct Item *it = &v->items[i];
        it->kind = klen == 1 ? kind[0] : 'B';
        switch (it->kind) {
        case 'U': it->n.u = strtoull(arg, NULL, 10); break;
        case 'S': it->n.s = strtoll(arg, NULL, 10); break;
        case 'D': it->n.d = strtod(arg, NULL); break;
        case 'F': it->n.f = strtof(arg, NULL); break;
        default:
            it->kind = 'B';
            it->bytes = malloc(len ? len : 1);
            memcpy(it->bytes, arg, len);
            it->len = len;
        }
    }
    Key *key = OpenKey(ctx, argv[1], KEY_READ_WRITE);
    if (KeyType(key) != KEYTYPE_EMPTY) {
        CloseKey(key);
        value_free(v);
        return ReplyWithError(ctx, "ERR key exists");
    }
    ModuleTypeSetValue(key, type, v);
    CloseKey(key);
    values_set++;
    return ReplyWithSimpleString(ctx, "OK");
}

#define GET(name) \
    if (GetApi("RedisModule_" #name, (void *)&name) != OK) return ERR;

int RedisModule_OnLoad(Ctx *ctx, Str **argv, int argc) {
    (void)argv;
    (void)argc;
    GetApi = (int (*)(const char *, void *))((void **)ctx)[0];
    GET(SetModuleAttribs);
    GET(CreateCommand);
    GET(CreateDataType);
    GET(OpenKey);
    GET(CloseKey);
    GET(KeyType);
    GET(ModuleTypeSetValue);
    GET(StringPtrLen);
    GET(ReplyWithSimpleString);
    GET(ReplyWithError);
    GET(WrongArity);
    GET(SaveUnsigned);
    GET(SaveSigned);
    GET(SaveDouble);
    GET(SaveFloat);
    GET(SaveStringBuffer);
    GET(LoadUnsigned);
    GET(LoadSigned);
    GET(LoadDouble);
    GET(LoadFloat);
    GET(LoadStringBuffer);
    GET(Free);
    SetModuleAttribs(ctx, "rdbtoolt", 1, 1);
    struct TypeMethods m = {
        .version = 2,
        .rdb_load = value_load,
        .rdb_save = value_save,
        .free = value_free,
        .aux_load = aux_load,
        .aux_save = aux_save,
        .aux_save_triggers = AUX_AFTER_RDB,
    };
    type = CreateDataType(ctx, "rdbtool_t", 3, &m);
    if (!type) return ERR;
    return CreateCommand(ctx, "rdbtoolt.set", set_command, "write", 1, 1, 1);
}
