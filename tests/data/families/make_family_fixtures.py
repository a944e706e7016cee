"""Tiny transformers models of every family modelconv knows, with reference outputs.

Run from the repository root with a Python that has torch and transformers
(versions used are recorded in tests/data/families/versions.json):

    python tests/data/families/make_family_fixtures.py

Each fixture directory holds what `save_pretrained` wrote (config.json,
model.safetensors, tokenizer files where the family has one) and a
`reference/` directory:

  keys.json                  [name, shape] of every saved tensor (what transformers writes)
  *_keys.json                the same for sub-model classes (CLIPVisionModelWithProjection, WhisperEncoder, ...)
  *.npy                      inputs and outputs of the model in f32 eval mode

CI does not need torch: Rust and Python tests compare modelconv against
these committed files. Values come from torch.manual_seed, so a re-run with
the same versions writes the same tensors.
"""

import json
import math
import os
import shutil
import struct
import sys
import wave

import numpy as np
import torch
import transformers
from safetensors import safe_open

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Model conversion should preserve embeddings.",
    "Héllo wörld! 123 numbers & symbols?",
    "short",
]


def out_dir(name):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "reference"))
    return d


def dump(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def save_np(d, name, arr):
    np.save(os.path.join(d, "reference", name + ".npy"), np.ascontiguousarray(arr))


def keys_of_file(path):
    with safe_open(path, "np") as f:
        return sorted([k, list(f.get_slice(k).get_shape())] for k in f.keys())


def keys_of_module(module):
    return sorted([k, list(v.shape)] for k, v in module.state_dict().items())


def save_model(model, d):
    model.save_pretrained(d, safe_serialization=True)
    keys = keys_of_file(os.path.join(d, "model.safetensors"))
    dump(os.path.join(d, "reference", "keys.json"), keys)
    return keys


def tokenizer_strings():
    rs = np.random.RandomState(7)
    base = [
        "", " ", "  leading and trailing  ", "tabs\tand\nnewlines\r\n", "Hello, world!",
        "naïve café résumé", "Ünïcödé ÀÉÎÕÜ", "日本語のテキスト", "中文字符和English混合", "한국어 텍스트",
        "emoji 🚀🦙✅ 😶‍🌫️", "العربية نص", "Ελληνικά", "русский текст", "e\u0301 combining",
        "3.14159", "1,000,000", "2026-11-22T10:00:00Z", "https://example.com/a?b=c&d=e",
        "user@example.com", "snake_case camelCase kebab-case", "!!!???...", "'quoted' \"double\"",
        "a" * 120, "supercalifragilisticexpialidocious", "UPPER lower MiXeD", "don't won't it's",
        "x" + " " * 7 + "y", "\u00a0non-breaking\u00a0space", "zero\u200bwidth",
    ]
    words = ["model", "convert", "weights", "tensor", "fox", "lazy", "dog", "quick", "brown", "über",
             "café", "数据", "🙂", "42", "3.5", "tokenizer", "##ing", "[CLS]", "<s>", "run", "running"]
    out = list(base)
    while len(out) < 300:
        n = rs.randint(1, 12)
        seps = [" ", " ", " ", "  ", "\t", "\n", ", ", ". "]
        s = ""
        for _ in range(n):
            s += words[rs.randint(len(words))] + seps[rs.randint(len(seps))]
        out.append(s.strip() if rs.rand() < 0.7 else s)
    return out


# --------------------------------------------------------------------------- BERT


def bert_vocab():
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?&'\"-:;()/@#$%*+=_<>[]{}~`^|\\") + list(
        "éèêëàâäöüïîôûçñß日本語中文字符和数据한국어текструсийΕλληνικάالعربيةテキスト"
    )
    words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "model", "conversion",
             "should", "preserve", "embed", "numbers", "symbols", "short", "hello", "world", "tensor",
             "weight", "convert", "run", "token", "data", "super", "example", "com", "http", "https",
             "upper", "lower", "mixed", "don", "won", "it", "case", "snake", "camel", "kebab", "non",
             "breaking", "space", "zero", "width", "quoted", "double", "naive", "cafe", "resume", "user"]
    pieces = ["##s", "##ing", "##ed", "##er", "##ly", "##ion", "##dings", "##s", "##e", "##a", "##o",
              "##i", "##n", "##t", "##r", "##l", "##d", "##c", "##m", "##u", "##p", "##h", "##g", "##b",
              "##f", "##k", "##v", "##w", "##x", "##y", "##z", "##q", "##j", "##1", "##2", "##3", "##4",
              "##5", "##6", "##7", "##8", "##9", "##0", "##é", "##ü", "##ö", "##ï", "##ç"]
    vocab = []
    for t in specials + words + chars + pieces:
        if t not in vocab:
            vocab.append(t)
    return vocab


def make_bert():
    from transformers import BertConfig, BertModel, BertTokenizer, BertTokenizerFast

    d = out_dir("bert")
    vocab = bert_vocab()
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    slow = BertTokenizer(os.path.join(d, "vocab.txt"), do_lower_case=True)
    fast = BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=True)
    fast.save_pretrained(d)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
    model = BertModel(config).eval()
    save_model(model, d)
    # sentence-transformers layout: Transformer -> mean Pooling -> Normalize.
    dump(os.path.join(d, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    os.makedirs(os.path.join(d, "1_Pooling"))
    dump(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 32, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False})
    dump(os.path.join(d, "sentence_bert_config.json"), {"max_seq_length": 128, "do_lower_case": False})
    enc = fast(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    emb = torch.nn.functional.normalize(pooled, p=2, dim=1)
    save_np(d, "input_ids", enc["input_ids"].numpy().astype(np.int64))
    save_np(d, "attention_mask", enc["attention_mask"].numpy().astype(np.int64))
    save_np(d, "last_hidden_state", hidden.numpy().astype(np.float32))
    save_np(d, "sentence_embedding", emb.numpy().astype(np.float32))
    strings = tokenizer_strings()
    dump(os.path.join(HERE, "tokenizer_strings.json"), strings)
    slow_ids = [slow(s)["input_ids"] for s in strings]
    fast_ids = [fast(s)["input_ids"] for s in strings]
    mismatches = [i for i, (a, b) in enumerate(zip(slow_ids, fast_ids)) if a != b]
    dump(os.path.join(d, "reference", "tokenizer_ids.json"),
         {"source": "transformers BertTokenizer (slow, vocab.txt), add_special_tokens=True",
          "ids": slow_ids, "fast_mismatches": mismatches})
    # The same model with only the slow tokenizer's files.
    v = out_dir("bert-vocab-only")
    for f in ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
              "special_tokens_map.json"]:
        if os.path.exists(os.path.join(d, f)):
            shutil.copy(os.path.join(d, f), os.path.join(v, f))
    shutil.rmtree(os.path.join(v, "reference"))
    return {"bert": "bert", "bert-vocab-only": "bert"}


# --------------------------------------------------------------------------- CLIP

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def lcg(n, seed):
    """n values of a 64-bit LCG (Knuth's MMIX constants), top 24 bits each.
    modelconv's check-inference generates the same stream for its built-in inputs."""
    out = np.empty(n, dtype=np.uint64)
    state = seed
    for i in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out[i] = state >> 40
    return out


def clip_images(size=32):
    """Three deterministic RGB images (uint8, HWC): a gradient, a checkerboard, noise."""
    y, x = np.mgrid[0:size, 0:size]
    grad = np.stack([x * 255 // (size - 1), y * 255 // (size - 1), (x + y) * 255 // (2 * size - 2)], -1)
    check = (((x // 4) + (y // 4)) % 2 * 255)[..., None].repeat(3, -1)
    noise = (lcg(size * size * 3, 1) & 255).reshape(size, size, 3)
    return np.stack([grad, check, noise]).astype(np.uint8)


def make_clip():
    from transformers import (CLIPConfig, CLIPModel, CLIPTextModelWithProjection,
                              CLIPVisionModelWithProjection)

    d = out_dir("clip")
    torch.manual_seed(1)
    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "vocab_size": 99, "max_position_embeddings": 16,
                     "eos_token_id": 98, "bos_token_id": 97, "pad_token_id": 0},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8},
        projection_dim=16)
    model = CLIPModel(config).eval()
    save_model(model, d)
    # The towers as standalone classes, loaded strictly from the full model's
    # weights (no missing or unexpected keys).
    sd = model.state_dict()
    vcfg, tcfg = config.vision_config, config.text_config
    vcfg.projection_dim = tcfg.projection_dim = config.projection_dim
    vis = CLIPVisionModelWithProjection(vcfg).eval()
    vis.load_state_dict({k: v for k, v in sd.items() if k in vis.state_dict()}, strict=True)
    txt = CLIPTextModelWithProjection(tcfg).eval()
    txt.load_state_dict({k: v for k, v in sd.items() if k in txt.state_dict()}, strict=True)
    dump(os.path.join(d, "reference", "vision_keys.json"), keys_of_module(vis))
    dump(os.path.join(d, "reference", "text_keys.json"), keys_of_module(txt))
    images = clip_images()
    # Preprocessing without resizing: x/255, then CLIP's mean/std, CHW.
    pixels = ((images.astype(np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD).transpose(0, 3, 1, 2)
    ids = torch.tensor([[97, 5, 17, 33, 98, 0, 0], [97, 44, 2, 98, 0, 0, 0], [97, 60, 61, 62, 63, 64, 98]])
    mask = (torch.arange(7)[None, :] <= (ids == 98).int().argmax(-1)[:, None]).long()
    with torch.no_grad():
        pv = torch.from_numpy(np.ascontiguousarray(pixels))
        vout = vis(pixel_values=pv)
        tout = txt(input_ids=ids, attention_mask=mask)
        full_img = model.get_image_features(pixel_values=pv)
        full_txt = model.get_text_features(input_ids=ids, attention_mask=mask)
    full_img = getattr(full_img, "pooler_output", full_img)
    full_txt = getattr(full_txt, "pooler_output", full_txt)
    assert torch.allclose(full_img, vout.image_embeds, atol=1e-6)
    assert torch.allclose(full_txt, tout.text_embeds, atol=1e-6)
    save_np(d, "images_uint8", images)
    save_np(d, "pixel_values", pixels.astype(np.float32))
    save_np(d, "image_embeds", vout.image_embeds.numpy().astype(np.float32))
    save_np(d, "vision_last_hidden_state", vout.last_hidden_state.numpy().astype(np.float32))
    save_np(d, "text_input_ids", ids.numpy().astype(np.int64))
    save_np(d, "text_attention_mask", mask.numpy().astype(np.int64))
    save_np(d, "text_embeds", tout.text_embeds.numpy().astype(np.float32))
    return {"clip": "clip"}


# --------------------------------------------------------------------------- Whisper


def whisper_audio():
    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    chirp = np.sin(2 * np.pi * (200 + 400 * t) * t)
    a0 = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 880 * t) + 0.1 * chirp
    a1 = 0.1 * (2.0 * lcg(2 * sr, 2).astype(np.float64) / (1 << 24) - 1.0)
    return [a0, a1]


def write_wav(path, samples):
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm.tobytes())
    return pcm.astype(np.float32) / 32768.0


def make_whisper():
    from transformers import (WhisperConfig, WhisperFeatureExtractor,
                              WhisperForConditionalGeneration)
    from transformers.models.whisper.modeling_whisper import WhisperEncoder, WhisperModel

    d = out_dir("whisper")
    torch.manual_seed(2)
    config = WhisperConfig(vocab_size=100, num_mel_bins=80, encoder_layers=2, encoder_attention_heads=2,
                           decoder_layers=2, decoder_attention_heads=2, encoder_ffn_dim=128,
                           decoder_ffn_dim=128, d_model=64, max_source_positions=1500,
                           max_target_positions=64, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                           decoder_start_token_id=1, suppress_tokens=[], begin_suppress_tokens=[])
    model = WhisperForConditionalGeneration(config).eval()
    save_model(model, d)
    fe = WhisperFeatureExtractor(feature_size=80)
    fe.save_pretrained(d)
    dump(os.path.join(d, "reference", "encoder_keys.json"), keys_of_module(WhisperEncoder(config)))
    dump(os.path.join(d, "reference", "whisper_model_keys.json"), keys_of_module(WhisperModel(config)))
    audio = []
    for i, a in enumerate(whisper_audio()):
        samples = write_wav(os.path.join(d, "reference", f"audio{i}.wav"), a)
        save_np(d, f"audio{i}", samples)
        audio.append(samples)
    feats = fe(audio, sampling_rate=16000, return_tensors="np")["input_features"].astype(np.float32)
    with torch.no_grad():
        enc = model.model.encoder(torch.from_numpy(feats)).last_hidden_state
    save_np(d, "input_features", feats)
    save_np(d, "encoder_last_hidden_state", enc.numpy().astype(np.float32))
    return {"whisper": "whisper"}


# --------------------------------------------------------------------------- decoders

DECODER_IDS = np.array([[1, 15, 27, 300, 4, 99, 250], [1, 7, 7, 7, 8, 9, 10], [1, 500, 2, 33, 120, 77, 3]],
                       dtype=np.int64)
BASE = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
            rms_norm_eps=1e-6, rope_theta=10000.0, bos_token_id=1, eos_token_id=2)


def train_bpe(d):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    text = tokenizer_strings() * 3 + SENTENCES * 20
    tok.train_from_iterator(text, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(d)
    return fast


def make_decoder(name, cls_name, cfg_name, seed, extra, tokenizer=False):
    cfg_cls = getattr(transformers, cfg_name)
    cls = getattr(transformers, cls_name)
    d = out_dir(name)
    torch.manual_seed(seed)
    config = cfg_cls(**{**BASE, **extra})
    model = cls(config).eval()
    keys = save_model(model, d)
    ids = DECODER_IDS
    if tokenizer:
        fast = train_bpe(d)
        enc = [fast(s)["input_ids"] for s in SENTENCES]
        dump(os.path.join(d, "reference", "sentence_ids.json"), enc)
    with torch.no_grad():
        logits = model(torch.from_numpy(ids)).logits
    save_np(d, "input_ids", ids)
    save_np(d, "logits", logits.numpy().astype(np.float32))
    return keys


# MiniCPM has no transformers class: its weights are a LLaMA state dict, its
# forward is LLaMA's with three muP scales. `minicpm_forward` implements it
# on top of LlamaForCausalLM's modules (checked against LlamaForCausalLM
# itself with neutral scales).


def minicpm_forward(model, ids, scale_emb, scale_depth, dim_model_base):
    m = model.model
    cfg = model.config
    h = m.embed_tokens(ids) * scale_emb
    pos = torch.arange(ids.shape[1])[None, :]
    pe = m.rotary_emb(h, pos)
    mask = torch.full((ids.shape[1], ids.shape[1]), float("-inf")).triu(1)[None, None]
    r = scale_depth / math.sqrt(cfg.num_hidden_layers)
    for layer in m.layers:
        a = layer.self_attn(hidden_states=layer.input_layernorm(h), position_embeddings=pe,
                            attention_mask=mask)[0]
        h = h + a * r
        h = h + layer.mlp(layer.post_attention_layernorm(h)) * r
    h = m.norm(h)
    return model.lm_head(h / (cfg.hidden_size / dim_model_base))


def make_minicpm(name, tied, seed):
    from transformers import LlamaConfig, LlamaForCausalLM

    d = out_dir(name)
    torch.manual_seed(seed)
    muP = dict(scale_emb=12.0, scale_depth=1.4, dim_model_base=16)
    config = LlamaConfig(**{**BASE, "tie_word_embeddings": tied}, attn_implementation="eager")
    model = LlamaForCausalLM(config).eval()
    ids = torch.from_numpy(DECODER_IDS)
    with torch.no_grad():
        neutral = minicpm_forward(model, ids, 1.0, math.sqrt(config.num_hidden_layers), config.hidden_size)
        assert torch.allclose(neutral, model(ids).logits, atol=1e-5), "hand-written forward != LLaMA"
        logits = minicpm_forward(model, ids, **muP)
    save_model(model, d)
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg.update(muP)
    cfg["model_type"] = "minicpm"
    cfg["architectures"] = ["MiniCPMForCausalLM"]
    dump(os.path.join(d, "config.json"), cfg)
    save_np(d, "input_ids", DECODER_IDS)
    save_np(d, "logits", logits.numpy().astype(np.float32))
    return {name: "minicpm"}


def main():
    families = {}
    families.update(make_bert())
    families.update(make_clip())
    families.update(make_whisper())
    make_decoder("llama", "LlamaForCausalLM", "LlamaConfig", 3, {"tie_word_embeddings": False}, tokenizer=True)
    make_decoder("mistral", "MistralForCausalLM", "MistralConfig", 4, {"sliding_window": 32})
    make_decoder("qwen2", "Qwen2ForCausalLM", "Qwen2Config", 5, {"tie_word_embeddings": True})
    make_decoder("gemma", "GemmaForCausalLM", "GemmaConfig", 6, {"head_dim": 32, "hidden_activation": "gelu_pytorch_tanh"})
    families.update({"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "gemma": "gemma"})
    families.update(make_minicpm("minicpm", False, 7))
    families.update(make_minicpm("minicpm-tied", True, 8))
    manifest = {}
    for name, fam in sorted(families.items()):
        d = os.path.join(HERE, name)
        cfg = json.load(open(os.path.join(d, "config.json")))
        ref = os.path.join(d, "reference")
        manifest[name] = {"family": fam, "model_type": cfg.get("model_type"),
                          "architectures": cfg.get("architectures"),
                          "reference": sorted(os.listdir(ref)) if os.path.isdir(ref) else []}
    dump(os.path.join(HERE, "families_manifest.json"), manifest)
    dump(os.path.join(HERE, "versions.json"), {"python": sys.version.split()[0], "torch": torch.__version__,
                                                "transformers": transformers.__version__,
                                                "numpy": np.__version__})


if __name__ == "__main__":
    main()
