"""Baseline (d) of the SST-2 quality benchmark (issue 6): TextBrewer's GeneralDistiller, logits + hidden + attention.

    python bench/textbrewer_baseline.py        # smoke run on tiny in-process BERTs (seconds)

bench/quality.py imports it:

    from textbrewer_baseline import train_textbrewer   # with bench/ on sys.path
    info = train_textbrewer(teacher, student, train, tokenizer, num_layers=3, seed=42, output_dir="/tmp/tb3")

The student is trained in place. The loss is TextBrewer's

    total = kd_loss_weight * softCE_T(s, t) + hard_label_weight * CE(s, y) + sum_i w_i * intermediate_i

with kd_loss_weight = (1 - alpha) * T^2 and hard_label_weight = alpha, so that it equals the common
`alpha * CE + (1 - alpha) * T^2 * KL_T(t || s)` of the other methods plus hidden MSE and attention MSE (weight 1 each,
TextBrewer's `hidden_mse` / `attention_mse` on the layer pairs of bench.common.TEXTBREWER_MAPS). TextBrewer's soft
cross-entropy (losses.kd_ce_loss) has no T^2 and equals KL + H(p_teacher): the total is higher than the common loss
by (1 - alpha) * T^2 * H(p_teacher), a constant of the student, so the gradients are the same.
"""

from __future__ import annotations

import math
import os
import time

import textbrewer
import torch
from common import TEXTBREWER_MAPS
from textbrewer import DistillationConfig, GeneralDistiller, TrainingConfig
from torch.utils.data import DataLoader
from transformers import DataCollatorWithPadding, get_linear_schedule_with_warmup

MODEL_INPUTS = ("input_ids", "token_type_ids", "attention_mask", "labels")
FORWARD_ARGS = dict(output_hidden_states=True, output_attentions=True)  # TextBrewer passes these to both models


def adaptor_teacher(batch: dict, outputs) -> dict:
    """What TextBrewer reads: logits (B, C), hidden states L+1 x (B, T, D), attentions L x (B, H, T, T), mask (B, T)."""
    return {"logits": outputs.logits, "hidden": outputs.hidden_states, "attention": outputs.attentions,
            "inputs_mask": batch["attention_mask"]}


def adaptor_student(batch: dict, outputs) -> dict:
    """The same plus the hard-label CE the model computed from `labels` (TextBrewer weights it by hard_label_weight)."""
    return {**adaptor_teacher(batch, outputs), "losses": [outputs.loss]}


def distillation_config(num_layers: int, temperature: float, alpha: float) -> DistillationConfig:
    """Where TextBrewer applies the weights (textbrewer 0.2.1, GeneralDistiller.compute_loss in distiller_general.py):
    `total_loss += total_kd_loss * d_config.kd_loss_weight` (total_kd_loss = losses.kd_ce_loss(l_S, l_T, temperature),
    -sum p_T log p_S at temperature T, mean over the batch, no T^2), then `total_loss += intermediate_loss *
    match_weight` for each intermediate match (masked by the student's `inputs_mask`), then `total_loss +=
    total_hl_loss * d_config.hard_label_weight` (total_hl_loss = sum of the student adaptor's `losses`).
    (That method assigns rather than adds the kd loss of each logits tensor, harmless here: one logits tensor. The
    student's eager attention maps are taken after attention dropout, as with the BERT TextBrewer was written for.)"""
    maps = TEXTBREWER_MAPS[num_layers]
    matches = [dict(layer_T=t, layer_S=s, feature="hidden", loss="hidden_mse", weight=1) for t, s in maps["hidden"]]
    matches += [dict(layer_T=t, layer_S=s, feature="attention", loss="attention_mse", weight=1)
                for t, s in maps["attention"]]
    return DistillationConfig(temperature=temperature, kd_loss_type="ce", kd_loss_weight=(1 - alpha) * temperature**2,
                              hard_label_weight=alpha, intermediate_matches=matches)


def _collate(tokenizer):
    pad = DataCollatorWithPadding(tokenizer)  # dynamic padding; returns a BatchEncoding

    def collate(rows):
        # TextBrewer only calls model(**batch) when `type(batch) is dict`, a BatchEncoding would be called positionally.
        return dict(pad([{k: row[k] for k in MODEL_INPUTS if k in row} for row in rows]))

    return collate


def _use_eager_attention(model, probe: dict) -> None:
    """transformers 5 defaults to sdpa, which returns an empty `attentions` tuple: switch to eager and check it."""
    model.set_attn_implementation("eager")
    with torch.no_grad():
        attentions = model(**probe, output_attentions=True).attentions
    if not attentions or len(attentions) != model.config.num_hidden_layers or attentions[0] is None:
        raise RuntimeError(f"{type(model).__name__} returned no attention maps under eager attention")


def train_textbrewer(teacher, student, train_dataset, tokenizer, num_layers: int, seed: int, output_dir: str,
                     epochs: float = 1, learning_rate: float = 5e-5, temperature: float = 2.0, alpha: float = 0.5,
                     batch_size: int = 32) -> dict:
    """Distil `teacher` into `student` (in place) with TextBrewer's GeneralDistiller.

    Args:
        teacher (`BertForSequenceClassification`): the 6-layer teacher; frozen (run under no_grad in eval mode).
        student (`BertForSequenceClassification`): the 3- or 2-layer student, same width as the teacher.
        train_dataset (`datasets.Dataset`): tokenized, unpadded: input_ids, token_type_ids, attention_mask, labels.
        tokenizer: pads each batch (DataCollatorWithPadding).
        num_layers (`int`): 3 or 2, the key of bench.common.TEXTBREWER_MAPS.
        seed (`int`): seeds torch and the shuffling generator.
        output_dir (`str`): TextBrewer's output_dir (one checkpoint, at the end) and its tensorboard log_dir inside.
        epochs (`float`, *optional*, defaults to `1`): whole numbers run TextBrewer's epoch loop, others `num_steps`.
        learning_rate (`float`, *optional*, defaults to `5e-5`): AdamW, no weight decay, linear decay, no warm-up.
        temperature (`float`, *optional*, defaults to `2.0`): the KD temperature T.
        alpha (`float`, *optional*, defaults to `0.5`): weight of the hard-label CE; the soft term gets (1-alpha)*T^2.
        batch_size (`int`, *optional*, defaults to `32`).

    Returns:
        `dict`: train_seconds (wall time of distiller.train), steps (optimizer steps), loss_weights, textbrewer_version.
    """
    collate = _collate(tokenizer)
    teacher_impl = teacher.config._attn_implementation
    probe = collate([train_dataset[i] for i in range(min(2, len(train_dataset)))])
    try:
        _use_eager_attention(teacher, probe)
        _use_eager_attention(student, probe)

        torch.manual_seed(seed)
        loader = DataLoader(train_dataset, batch_size=batch_size, shuffle=True, collate_fn=collate,
                            generator=torch.Generator().manual_seed(seed))
        whole_epochs = float(epochs).is_integer()
        total_steps = len(loader) * int(epochs) if whole_epochs else math.ceil(len(loader) * epochs)

        # Save as little as possible: the epoch loop saves at the end of an epoch when (epoch+1) % ckpt_epoch_frequency
        # == 0 or it is the last one, so ckpt_epoch_frequency=epochs saves once, at the end; the num_steps loop saves
        # every ckpt_steps and at the last step, so ckpt_steps=total_steps saves once, at the end too.
        train_config = TrainingConfig(output_dir=output_dir, log_dir=os.path.join(output_dir, "tensorboard"),
                                      device="cpu", fp16=False, gradient_accumulation_steps=1, ckpt_frequency=1,
                                      ckpt_epoch_frequency=max(1, int(epochs)), ckpt_steps=total_steps)
        d_config = distillation_config(num_layers, temperature, alpha)
        teacher.eval()
        distiller = GeneralDistiller(train_config, d_config, teacher, student, adaptor_teacher, adaptor_student)

        optimizer = torch.optim.AdamW(student.parameters(), lr=learning_rate, weight_decay=0.0)
        steps = [0]
        optimizer.register_step_post_hook(lambda *_: steps.__setitem__(0, steps[0] + 1))
        schedule = dict(scheduler_class=get_linear_schedule_with_warmup,
                        scheduler_args=dict(num_warmup_steps=0, num_training_steps=total_steps))
        length = dict(num_epochs=int(epochs)) if whole_epochs else dict(num_steps=total_steps)

        start = time.perf_counter()
        with distiller:  # teacher.eval(), student.train(); restores both afterwards
            distiller.train(optimizer, loader, max_grad_norm=1.0, **schedule, **length, **FORWARD_ARGS)
        train_seconds = time.perf_counter() - start
        distiller.tb_writer.close()
    finally:
        student.set_attn_implementation("sdpa")  # evaluation and latency as for the other methods
        teacher.set_attn_implementation(teacher_impl)

    return {
        "train_seconds": train_seconds,
        "steps": steps[0],
        "loss_weights": {"temperature": temperature, "kd_loss_type": "ce", "kd_loss_weight": d_config.kd_loss_weight,
                         "hard_label_weight": d_config.hard_label_weight, "hidden_mse": 1.0, "attention_mse": 1.0},
        "textbrewer_version": textbrewer.__version__,
    }


def _check_loss_composition(teacher, student, batch: dict, num_layers: int, temperature: float, alpha: float) -> None:
    """On one batch (eval mode, no dropout): TextBrewer's total is alpha*CE + (1-alpha)*T^2*KL + (1-alpha)*T^2*H(p_t)
    + hidden + attention, with its hard-label term the plain CE and its soft term KL/T^2 + H(p_t)."""
    import tempfile

    import torch.nn.functional as F

    from hf_distill.losses import soft_kl

    for model in (teacher, student):
        model.set_attn_implementation("eager")
        model.eval()
    with tempfile.TemporaryDirectory() as out, torch.no_grad():
        distiller = GeneralDistiller(TrainingConfig(output_dir=out, device="cpu"),
                                     distillation_config(num_layers, temperature, alpha), teacher, student,
                                     adaptor_teacher, adaptor_student)
        total, terms = distiller.train_on_batch(batch, FORWARD_ARGS)
        s, t = student(**batch).logits, teacher(**batch).logits  # (B, C)
    p_t = F.softmax(t / temperature, -1)
    entropy = -(p_t * p_t.log()).sum(-1).mean()
    kl_t2 = soft_kl(s, t, temperature).mean()  # the common soft term: T^2 * KL, as hf_distill
    inter = [v for k, v in terms.items() if k.startswith(("unweighted_hidden", "unweighted_attention"))]
    assert len(inter) == 2 * num_layers, terms
    torch.testing.assert_close(terms["unweighted_hard_label_loss"], F.cross_entropy(s, batch["labels"]))
    torch.testing.assert_close(terms["unweighted_kd_loss"], kl_t2 / temperature**2 + entropy)
    expected = alpha * F.cross_entropy(s, batch["labels"]) + (1 - alpha) * kl_t2 \
        + (1 - alpha) * temperature**2 * entropy + sum(inter)
    torch.testing.assert_close(total, expected)
    student.set_attn_implementation("sdpa")
    teacher.set_attn_implementation("sdpa")
    student.train()


def main() -> None:
    """Smoke run: tiny BERTs (width 32, 2 heads), 64 random rows; 3-layer student for 2 epochs, 2-layer for 1.5."""
    import glob
    import tempfile

    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = "the a movie film good great bad awful boring fun not very and but".split()
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(special + words)})
    g = torch.Generator().manual_seed(0)
    texts = [" ".join(words[j] for j in torch.randint(len(words), (int(n),), generator=g))
             for n in torch.randint(2, 12, (64,), generator=g)]
    rows = Dataset.from_dict({**tokenizer(texts), "labels": torch.randint(2, (64,), generator=g).tolist()})

    def tiny_bert(layers: int, seed: int):
        torch.manual_seed(seed)
        return BertForSequenceClassification(BertConfig(
            vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
            intermediate_size=64, max_position_embeddings=64, num_labels=2))

    teacher = tiny_bert(6, seed=0).eval()
    for num_layers, epochs in ((3, 2), (2, 1.5)):
        student = tiny_bert(num_layers, seed=num_layers)
        batch = _collate(tokenizer)([rows[i] for i in range(8)])
        _check_loss_composition(teacher, student, batch, num_layers, temperature=2.0, alpha=0.5)
        before_s = {k: v.clone() for k, v in student.state_dict().items()}
        before_t = {k: v.clone() for k, v in teacher.state_dict().items()}
        with tempfile.TemporaryDirectory() as out:
            info = train_textbrewer(teacher, student, rows, tokenizer, num_layers=num_layers, seed=42, output_dir=out,
                                    epochs=epochs, learning_rate=1e-3, batch_size=16)
            saved = sorted(os.path.basename(p) for p in glob.glob(os.path.join(out, "*.pkl")))
            logs = glob.glob(os.path.join(out, "tensorboard", "events.*"))
        print(f"{num_layers} layers, {epochs} epochs: {info}, checkpoints {saved}")
        assert info["steps"] == math.ceil(4 * epochs) and saved == [f"gs{info['steps']}.pkl"] and logs
        assert any(not torch.equal(v, student.state_dict()[k]) for k, v in before_s.items()), "student unchanged"
        assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before_t.items()), "teacher changed"
        assert student.config._attn_implementation == "sdpa" and teacher.config._attn_implementation == "sdpa"
    print("ok")


if __name__ == "__main__":
    main()
