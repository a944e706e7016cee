// modelconv-llama-logits: run a GGUF model through llama.cpp's C API and print
// what it computes, so tests can compare llama.cpp numerically with
// transformers (or with modelconv's own forward pass).
//
// Built by scripts/build-llama-cpp against the libllama it builds; see
// tests/llama/README.md.
//
// Modes
//   logits     (default) evaluate the token sequence in one batch, print the
//              logits of every position (--all, default) or of the last (--last)
//   embd       embeddings: pooled per sequence with the model's pooling type
//              (or --pooling), or per token with --pooling none; raw values
//              unless --normalize (L2)
//   tokenize   only print the token ids of --text
//
// Input: --tokens 1,2,3 | --tokens-file FILE (ids separated by commas or
// whitespace) | --text STRING (tokenized by the model's own vocab; BOS/EOS/CLS/SEP
// added as the GGUF says unless --no-special).
//
// Output (stdout, or --out FILE):
//   --format json (default) one JSON object:
//       {"mode":..., "tokens":[...], "n_rows":R, "n_cols":C, "rows":[[...], ...], ...}
//   --format f32  raw little-endian float32, R*C values, row-major, no header
//                 (R and C are printed to stderr as "shape R C")
//
// Numerics: the KV cache is f32 (llama.cpp's default is f16) and flash
// attention is off unless --kv-f16 / --flash-attn on|auto are given, so that
// f32 GGUFs match a float32 transformers run to ~1e-5.

#include "llama.h"
#include "ggml-backend.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static void usage(FILE * f) {
    fprintf(f,
        "usage: modelconv-llama-logits -m MODEL.gguf (--tokens IDS | --tokens-file FILE | --text STR) [options]\n"
        "\n"
        "  -m, --model FILE        GGUF model\n"
        "  --mode logits|embd|tokenize   what to compute (default logits)\n"
        "  --tokens 1,2,3          token ids, comma separated\n"
        "  --tokens-file FILE      token ids separated by commas or whitespace\n"
        "  --text STR              text tokenized with the model's vocab\n"
        "  --no-special            with --text: add no BOS/EOS/CLS/SEP\n"
        "  --all | --last          logits: every position (default) or only the last\n"
        "  --pooling model|none|mean|cls|last|rank   embd: pooling (default: the model's)\n"
        "  --normalize             embd: L2-normalize each row\n"
        "  --format json|f32       output format (default json)\n"
        "  --out FILE              write there instead of stdout\n"
        "  --threads N             CPU threads (default 2)\n"
        "  --kv-f16                keep llama.cpp's default f16 KV cache (default here: f32)\n"
        "  --flash-attn on|off|auto  (default off)\n"
        "  --verbose               keep llama.cpp's log on stderr\n");
}

[[noreturn]] static void die(const char * fmt, const char * arg = "") {
    fprintf(stderr, "modelconv-llama-logits: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

static std::vector<llama_token> parse_ids(const std::string & s) {
    std::vector<llama_token> ids;
    std::string cur;
    auto flush = [&]() {
        if (cur.empty()) return;
        char * end = nullptr;
        errno = 0;
        long v = strtol(cur.c_str(), &end, 10);
        if (errno || *end || v < 0 || v > INT32_MAX) die("bad token id '%s'", cur.c_str());
        ids.push_back((llama_token) v);
        cur.clear();
    };
    for (char c : s) {
        if (c == ',' || c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '[' || c == ']') flush();
        else cur.push_back(c);
    }
    flush();
    return ids;
}

static bool quiet = true;
static void log_cb(enum ggml_log_level level, const char * text, void *) {
    if (!quiet || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void json_float(FILE * f, float v) {
    if (std::isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

int main(int argc, char ** argv) {
    std::string model_path, mode = "logits", tokens_arg, tokens_file, text, pooling = "model",
                format = "json", out_path, flash = "off";
    bool have_text = false, special = true, all = true, normalize = false, kv_f16 = false;
    int threads = 2;

    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) die("%s needs a value", a.c_str());
            return argv[++i];
        };
        if (a == "-m" || a == "--model") model_path = next();
        else if (a == "--mode") mode = next();
        else if (a == "--tokens") tokens_arg = next();
        else if (a == "--tokens-file") tokens_file = next();
        else if (a == "--text") { text = next(); have_text = true; }
        else if (a == "--no-special") special = false;
        else if (a == "--all") all = true;
        else if (a == "--last") all = false;
        else if (a == "--pooling") pooling = next();
        else if (a == "--normalize") normalize = true;
        else if (a == "--format") format = next();
        else if (a == "--out") out_path = next();
        else if (a == "--threads") threads = atoi(next().c_str());
        else if (a == "--kv-f16") kv_f16 = true;
        else if (a == "--flash-attn") flash = next();
        else if (a == "--verbose") quiet = false;
        else if (a == "-h" || a == "--help") { usage(stdout); return 0; }
        else { usage(stderr); die("unknown argument %s", a.c_str()); }
    }
    if (model_path.empty()) { usage(stderr); die("no model (-m)"); }
    if (mode != "logits" && mode != "embd" && mode != "tokenize") die("bad --mode %s", mode.c_str());
    if (format != "json" && format != "f32") die("bad --format %s", format.c_str());
    if ((int) !tokens_arg.empty() + (int) !tokens_file.empty() + (int) have_text != 1)
        die("give exactly one of --tokens, --tokens-file, --text");
    if (mode == "tokenize" && !have_text) die("--mode tokenize needs --text");

    enum llama_pooling_type pool = LLAMA_POOLING_TYPE_UNSPECIFIED;
    if (pooling == "model") pool = LLAMA_POOLING_TYPE_UNSPECIFIED;
    else if (pooling == "none") pool = LLAMA_POOLING_TYPE_NONE;
    else if (pooling == "mean") pool = LLAMA_POOLING_TYPE_MEAN;
    else if (pooling == "cls") pool = LLAMA_POOLING_TYPE_CLS;
    else if (pooling == "last") pool = LLAMA_POOLING_TYPE_LAST;
    else if (pooling == "rank") pool = LLAMA_POOLING_TYPE_RANK;
    else die("bad --pooling %s", pooling.c_str());

    llama_flash_attn_type fa;
    if (flash == "off") fa = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    else if (flash == "on") fa = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    else if (flash == "auto") fa = LLAMA_FLASH_ATTN_TYPE_AUTO;
    else die("bad --flash-attn %s", flash.c_str());

    llama_log_set(log_cb, nullptr);
    ggml_backend_load_all();
    llama_backend_init();

    llama_model_params mparams = llama_model_default_params();
    mparams.n_gpu_layers = 0;
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mparams);
    if (!model) die("cannot load %s", model_path.c_str());
    const llama_vocab * vocab = llama_model_get_vocab(model);

    std::vector<llama_token> tokens;
    if (have_text) {
        int n = -llama_tokenize(vocab, text.data(), (int32_t) text.size(), nullptr, 0, special, false);
        tokens.resize(n > 0 ? n : 0);
        int got = llama_tokenize(vocab, text.data(), (int32_t) text.size(), tokens.data(), (int32_t) tokens.size(), special, false);
        if (got < 0) die("tokenization failed");
        tokens.resize(got);
    } else if (!tokens_file.empty()) {
        std::ifstream in(tokens_file);
        if (!in) die("cannot read %s", tokens_file.c_str());
        std::stringstream ss;
        ss << in.rdbuf();
        tokens = parse_ids(ss.str());
    } else {
        tokens = parse_ids(tokens_arg);
    }
    if (tokens.empty() && mode != "tokenize") die("no tokens");
    const int n_vocab = llama_vocab_n_tokens(vocab);
    for (llama_token t : tokens)
        if (t >= n_vocab) die("token id out of range of the vocab (%s)", std::to_string(t).c_str());

    FILE * out = stdout;
    if (!out_path.empty()) {
        out = fopen(out_path.c_str(), format == "f32" ? "wb" : "w");
        if (!out) die("cannot write %s", out_path.c_str());
    }

    auto print_tokens = [&]() {
        fputs("[", out);
        for (size_t i = 0; i < tokens.size(); i++) fprintf(out, "%s%d", i ? "," : "", tokens[i]);
        fputs("]", out);
    };

    if (mode == "tokenize") {
        fputs("{\"mode\":\"tokenize\",\"tokens\":", out);
        print_tokens();
        fputs("}\n", out);
        if (out != stdout) fclose(out);
        llama_model_free(model);
        llama_backend_free();
        return 0;
    }

    const bool embd = mode == "embd";
    const int n_tok = (int) tokens.size();

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = (uint32_t) std::max(n_tok, 16);
    cparams.n_batch = (uint32_t) std::max(n_tok, 16);
    cparams.n_ubatch = cparams.n_batch;   // non-causal (BERT) attention needs the whole sequence in one ubatch
    cparams.n_seq_max = 1;
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.embeddings = embd;
    cparams.pooling_type = embd ? pool : LLAMA_POOLING_TYPE_NONE;
    cparams.flash_attn_type = fa;
    cparams.no_perf = true;
    if (!kv_f16) {
        cparams.type_k = GGML_TYPE_F32;
        cparams.type_v = GGML_TYPE_F32;
    }
    llama_context * ctx = llama_init_from_model(model, cparams);
    if (!ctx) die("cannot create a context");

    llama_batch batch = llama_batch_init(n_tok, 0, 1);
    batch.n_tokens = n_tok;
    for (int i = 0; i < n_tok; i++) {
        batch.token[i] = tokens[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = embd ? 1 : (all || i == n_tok - 1);
    }

    int rc;
    if (llama_model_has_encoder(model) && !llama_model_has_decoder(model)) rc = llama_encode(ctx, batch);
    else rc = llama_decode(ctx, batch);
    if (rc != 0) die("llama_decode/encode failed (%s)", std::to_string(rc).c_str());

    // rows to print: (position, pointer)
    std::vector<std::pair<int, const float *>> rows;
    int n_cols = 0;
    std::string what;
    const enum llama_pooling_type used_pool = embd ? llama_pooling_type(ctx) : LLAMA_POOLING_TYPE_NONE;
    if (!embd) {
        n_cols = n_vocab;
        what = "logits";
        for (int i = 0; i < n_tok; i++) {
            if (!batch.logits[i]) continue;
            const float * p = llama_get_logits_ith(ctx, i);
            if (!p) die("no logits for position %s", std::to_string(i).c_str());
            rows.push_back({i, p});
        }
    } else if (used_pool == LLAMA_POOLING_TYPE_NONE) {
        n_cols = llama_model_n_embd_out(model);
        what = "token_embeddings";
        for (int i = 0; i < n_tok; i++) {
            const float * p = llama_get_embeddings_ith(ctx, i);
            if (!p) die("no embedding for position %s", std::to_string(i).c_str());
            rows.push_back({i, p});
        }
    } else {
        n_cols = used_pool == LLAMA_POOLING_TYPE_RANK ? (int) llama_model_n_cls_out(model)
                                                      : llama_model_n_embd_out(model);
        what = used_pool == LLAMA_POOLING_TYPE_RANK ? "rank_scores" : "pooled_embedding";
        const float * p = llama_get_embeddings_seq(ctx, 0);
        if (!p) die("no pooled embedding");
        rows.push_back({-1, p});
    }

    std::vector<float> buf((size_t) n_cols);
    auto row_values = [&](const float * p) -> const float * {
        if (!normalize || !embd) return p;
        double s = 0;
        for (int j = 0; j < n_cols; j++) s += (double) p[j] * p[j];
        const double k = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
        for (int j = 0; j < n_cols; j++) buf[j] = (float) (p[j] * k);
        return buf.data();
    };

    if (format == "f32") {
        for (auto & r : rows) fwrite(row_values(r.second), sizeof(float), (size_t) n_cols, out);
        fprintf(stderr, "shape %zu %d\n", rows.size(), n_cols);
    } else {
        static const char * pool_names[] = {"none", "mean", "cls", "last", "rank"};
        fprintf(out, "{\"mode\":\"%s\",\"what\":\"%s\",", mode.c_str(), what.c_str());
        if (embd) fprintf(out, "\"pooling\":\"%s\",\"normalized\":%s,",
                          (used_pool >= 0 && used_pool <= 4) ? pool_names[used_pool] : "?",
                          normalize ? "true" : "false");
        fputs("\"tokens\":", out);
        print_tokens();
        fputs(",\"positions\":[", out);
        for (size_t r = 0; r < rows.size(); r++) fprintf(out, "%s%d", r ? "," : "", rows[r].first);
        fprintf(out, "],\"n_rows\":%zu,\"n_cols\":%d,\"rows\":[", rows.size(), n_cols);
        for (size_t r = 0; r < rows.size(); r++) {
            const float * v = row_values(rows[r].second);
            fputs(r ? ",\n[" : "\n[", out);
            for (int j = 0; j < n_cols; j++) {
                if (j) fputc(',', out);
                json_float(out, v[j]);
            }
            fputc(']', out);
        }
        fputs("]}\n", out);
    }
    if (out != stdout) fclose(out);

    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
