/* Kernel names demangled as nsys and torch.profiler show them (sp_demangle, src/analyze/demangle.c):
 * known manglings from the Itanium C++ ABI's own examples, names whose demangled text is taken from
 * the torch.profiler traces in tests/data/kineto (checked to be there, word for word) and hand-mangled
 * by the ABI's rules, what is left alone, and the demangled name in every report: text kernel table,
 * JSON kernel stats (with the mangled name kept), HTML and Perfetto. */
#include <stdlib.h>
#include <string.h>

#include "json_mini.h"
#include "testlib.h"

typedef struct known {
    const char *mangled, *shown;
} known;

/* From the Itanium C++ ABI (https://itanium-cxx-abi.github.io/cxx-abi/abi.html, section 5.1,
 * "External Names (a.k.a. Mangling)"): the compression example of 5.1.9 (S0_ names N::T, then given
 * new template arguments), the std:: abbreviations of 5.1.9's table (St = ::std::, Sa =
 * ::std::allocator), a function template whose parameters name its template parameter (T_, 5.1.8),
 * and a plain function with a pointer parameter repeated through a substitution (S_). The shown text
 * is the ABI's declaration written the way GCC's demangler prints it ("float const&", "> >"). */
static const known abi_examples[] = {
    {"_ZN1N1TIiiE2mfES0_IddE", "N::T<int, int>::mf(N::T<double, double>)"},
    {"_ZNSt6vectorIfSaIfEE9push_backERKf", "std::vector<float, std::allocator<float> >::push_back(float const&)"},
    {"_ZSt4sortIPiEvT_S1_", "void std::sort<int*>(int*, int*)"},
    {"_Z5saxpyifPfS_", "saxpy(int, float, float*, float*)"},
};

/* Kernel names exactly as torch.profiler (Kineto) wrote them into the traces of tests/data/kineto,
 * with a mangling written by hand from the ABI's rules: an anonymous namespace (_GLOBAL__N_1),
 * template arguments of type and integer (Lb0E bool, Li10E int, Lj0E unsigned: "0u"), an enum
 * literal ((cudnnKernelDataType_t)2), template parameters in the signature (T_, T0_, T1_), nested
 * names and substitutions. */
typedef struct from_trace {
    const char *trace; /* under tests/data/kineto */
    const char *mangled, *shown;
} from_trace;

static const from_trace kineto_names[] = {
    {"alexnet_a100.json.gz", "_ZN2at6native12_GLOBAL__N_121adaptive_average_poolIfEEvPKT_PS3_iiiilll",
     "void at::native::(anonymous namespace)::adaptive_average_pool<float>(float const*, float*, int, int, int, int, "
     "long, long, long)"},
    {"alexnet_a100.json.gz",
     "_ZN5cudnn3ops16nchwToNhwcKernelIfffLb0ELb1EL21cudnnKernelDataType_t2EEEvNS0_18nchw2nhwc_params_tIT1_EEPKT_PT0_",
     "void cudnn::ops::nchwToNhwcKernel<float, float, float, false, true, (cudnnKernelDataType_t)2>"
     "(cudnn::ops::nchw2nhwc_params_t<float>, float const*, float*)"},
    {"alexnet_a100.json.gz", "_Z15fft2d_r2c_32x32IfLb0ELj0ELb0EEvP6float2PKT_iiiiiiiiiN5cudnn15reduced_divisorEb4int2ii",
     "void fft2d_r2c_32x32<float, false, 0u, false>(float2*, float const*, int, int, int, int, int, int, int, int, int, "
     "cudnn::reduced_divisor, bool, int2, int, int)"},
    {"ns_resolution_resnet_v100.json.gz", "_ZN12_GLOBAL__N_120softmax_warp_forwardIfffLi10ELb1ELb0EEEvPT0_PKT_iiiPKbib",
     "void (anonymous namespace)::softmax_warp_forward<float, float, float, 10, true, false>(float*, float const*, int, "
     "int, int, bool const*, int, bool)"},
    {"cuda_event_sync.json.gz", "_ZN2at4cuda12_GLOBAL__N_111spin_kernelEl",
     "at::cuda::(anonymous namespace)::spin_kernel(long)"},
};

static void check_demangles(const char *mangled, const char *shown)
{
    char buf[1024];
    size_t n = sp_demangle(mangled, buf, sizeof buf);
    CHECK_EQ_U64(n, strlen(shown));
    if (strcmp(buf, shown) != 0) {
        fprintf(stderr, "  %s\n  gave     %s\n  expected %s\n", mangled, buf, shown);
        CHECK(0);
    }
}

static void test_abi_examples(void)
{
    for (size_t i = 0; i < sizeof abi_examples / sizeof abi_examples[0]; i++)
        check_demangles(abi_examples[i].mangled, abi_examples[i].shown);
}

/* Whether the kernel table of trace `path` holds a kernel named `name`. */
static int trace_has_kernel(const char *path, const char *name)
{
    sp_events *ev;
    char err[512];
    if (sp_events_create(&ev) != SP_OK)
        return 0;
    sp_report *r = NULL;
    int found = 0;
    if (sp_events_load_file(ev, path, NULL, err, sizeof err) == SP_OK &&
        sp_analyze(ev, NULL, &r, err, sizeof err) == SP_OK)
        for (size_t k = 0; k < r->gpu.n_kernel_stats && !found; k++)
            found = strcmp(r->gpu.kernel_stats[k].name, name) == 0;
    else
        fprintf(stderr, "%s: %s\n", path, err);
    sp_report_destroy(r);
    sp_events_destroy(ev);
    return found;
}

static void test_kineto_names(void)
{
    for (size_t i = 0; i < sizeof kineto_names / sizeof kineto_names[0]; i++) {
        const from_trace *t = &kineto_names[i];
        char path[512];
        snprintf(path, sizeof path, "%s/tests/data/kineto/%s", SP_SOURCE_DIR, t->trace);
        /* the expected text is torch.profiler's, word for word */
        if (!trace_has_kernel(path, t->shown)) {
            fprintf(stderr, "%s has no kernel named %s\n", t->trace, t->shown);
            CHECK(0);
        }
        check_demangles(t->mangled, t->shown);
    }
}

static void test_left_alone_and_cut(void)
{
    char buf[64];
    /* not mangled: a plain kernel name, an already demangled one, an empty one */
    CHECK_EQ_U64(sp_demangle("triton_poi_fused_add_cos_sin_0", buf, sizeof buf), 0);
    CHECK(buf[0] == '\0');
    CHECK_EQ_U64(sp_demangle("saxpy(int, float, float*, float*)", buf, sizeof buf), 0);
    CHECK_EQ_U64(sp_demangle("", buf, sizeof buf), 0);
    CHECK_EQ_U64(sp_demangle(NULL, buf, sizeof buf), 0);
    /* the prefix without a valid encoding after it */
    CHECK_EQ_U64(sp_demangle("_Z", buf, sizeof buf), 0);
    CHECK_EQ_U64(sp_demangle("_Z3fooI", buf, sizeof buf), 0);
    /* a symbol longer than 4095 bytes is left alone (SP_EV_MAX_STRING) */
    size_t big = 5000;
    char *s = malloc(big + 1);
    memset(s, 'i', big);
    memcpy(s, "_Z1f", 4);
    s[big] = '\0';
    CHECK_EQ_U64(sp_demangle(s, buf, sizeof buf), 0);
    free(s);
    /* snprintf's contract: the whole length, the text cut to the buffer */
    char small[8];
    CHECK_EQ_U64(sp_demangle("_Z5saxpyifPfS_", small, sizeof small), 33); /* strlen of the text above */
    CHECK(strcmp(small, "saxpy(i") == 0);
    CHECK_EQ_U64(sp_demangle("_Z5saxpyifPfS_", NULL, 0), 33);
}

/* Every report shows the demangled name: a kernel recorded as "_Z5saxpyifPfS_". */
static void test_reports(void)
{
    static const char trace[] =
        "{\"ev\":\"meta\",\"format\":\"servprof.events/1\",\"clock\":\"monotonic\"}\n"
        "{\"ev\":\"request\",\"id\":\"r1\",\"arrival_ns\":0,\"done_ns\":100000}\n"
        "{\"ev\":\"batch\",\"batch\":1,\"requests\":[\"r1\"],\"start_ns\":10000,\"end_ns\":90000,"
        "\"effective_tokens\":4,\"padded_tokens\":4}\n"
        "{\"ev\":\"kernel\",\"batch\":1,\"name\":\"_Z5saxpyifPfS_\",\"stream\":7,\"start_ns\":20000,\"end_ns\":80000}\n";
    const char *shown = "saxpy(int, float, float*, float*)";
    sp_events *ev;
    sp_analyze_options ao;
    sp_analyze_options_init(&ao);
    ao.keep_detail = 1;
    ev = sp_test_load_jsonl(trace);
    sp_report *r = NULL;
    char err[256];
    CHECK(sp_analyze(ev, &ao, &r, err, sizeof err) == SP_OK);
    if (!r) {
        sp_events_destroy(ev);
        return;
    }
    CHECK_EQ_U64(r->gpu.n_kernel_stats, 1);
    CHECK(strcmp(r->gpu.kernel_stats[0].name, shown) == 0);
    CHECK(r->gpu.kernel_stats[0].mangled && strcmp(r->gpu.kernel_stats[0].mangled, "_Z5saxpyifPfS_") == 0);
    const char *writers[] = {"text", "json", "html", "perfetto"};
    for (int w = 0; w < 4; w++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        sp_status st = w == 0   ? sp_report_write_text(r, f)
                       : w == 1 ? sp_report_write_json(r, f)
                       : w == 2 ? sp_report_write_html(r, NULL, f)
                                : sp_report_write_perfetto(r, ev, f);
        fclose(f);
        CHECK(st == SP_OK);
        /* the text table cuts long names; this one fits its column up to "float*, f" */
        const char *want = w == 0 ? "saxpy(int, float, float*" : shown;
        if (!strstr(buf, want)) {
            fprintf(stderr, "the %s report does not show %s\n", writers[w], want);
            CHECK(0);
        }
        if (w == 1 || w == 3) {
            jv root;
            const char *why;
            size_t at;
            CHECK(jv_parse(buf, len, &root, &why, &at) == 0);
            if (w == 1) {
                const jv *k = jv_path(&root, "gpu.kernel_stats");
                CHECK(k && k->type == JV_ARR && k->n == 1);
                if (k && k->n == 1) {
                    CHECK(strcmp(jv_get(&k->items[0], "name")->str, shown) == 0);
                    CHECK(strcmp(jv_get(&k->items[0], "mangled")->str, "_Z5saxpyifPfS_") == 0);
                }
            } else {
                const jv *evs = jv_get(&root, "traceEvents");
                int found = 0;
                for (size_t i = 0; evs && i < evs->n; i++) {
                    const jv *e = &evs->items[i], *cat = jv_get(e, "cat");
                    if (cat && strcmp(cat->str, "kernel") == 0) {
                        found = 1;
                        CHECK(strcmp(jv_get(e, "name")->str, shown) == 0);
                        CHECK(strcmp(jv_path(e, "args.mangled")->str, "_Z5saxpyifPfS_") == 0);
                    }
                }
                CHECK(found);
            }
            jv_free(&root);
        }
        free(buf);
    }
    sp_report_destroy(r);
    sp_events_destroy(ev);
}

int main(void)
{
    if (!sp_demangle_available()) {
        printf("test_demangle: skipped: servprof was built without libiberty (Debian libiberty-dev)\n");
        return 77;
    }
    test_abi_examples();
    test_kineto_names();
    test_left_alone_and_cut();
    test_reports();
    return sp_test_done("test_demangle");
}
