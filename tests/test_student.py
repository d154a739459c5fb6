"""Students built from the teacher's own layers (whole or width-sliced), for every architecture in ARCHITECTURES,
and from a config."""

import re

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

from hf_distill.architectures import ARCHITECTURES, get_layers
from hf_distill.student import (
    copied_layers,
    default_student_layers,
    slice_to,
    sliced_from,
    sliced_widths,
    student_from_config,
    student_from_teacher,
)


def tiny(model_type, layers=4):
    kw = dict(vocab_size=99, max_position_embeddings=40, num_labels=3)
    if model_type == "distilbert":
        kw.update(dim=32, n_layers=layers, n_heads=4, hidden_dim=64)
    else:
        kw.update(hidden_size=32, num_hidden_layers=layers, num_attention_heads=4, intermediate_size=64)
    if model_type == "electra":
        kw["embedding_size"] = 16
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(AutoConfig.for_model(model_type, **kw)).eval()


def test_default_layers():
    assert default_student_layers(6, 3) == [1, 3, 5]
    assert default_student_layers(6, 2) == [1, 4]
    assert default_student_layers(12, 6) == [1, 3, 5, 7, 9, 11]
    with pytest.raises(ValueError, match="between 1 and"):
        default_student_layers(6, 7)


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_student_copies_embeddings_layers_and_head(model_type):
    teacher = tiny(model_type)
    student = student_from_teacher(teacher, layers=[1, 3])
    assert type(student) is type(teacher)
    assert student.config.num_hidden_layers == 2
    assert student.config.hf_distill_teacher_layers == [1, 3]
    t_layers, s_layers = get_layers(teacher), get_layers(student)
    for s_index, t_layer in enumerate([1, 3]):
        for (name, p_s), (_, p_t) in zip(s_layers[s_index].named_parameters(), t_layers[t_layer - 1].named_parameters()):
            assert torch.equal(p_s, p_t), name
    t_state, s_state = teacher.state_dict(), student.state_dict()
    outside = [k for k in s_state if ".layer." not in k]
    assert outside and all(torch.equal(s_state[k], t_state[k]) for k in outside)  # embeddings, pooler, classifier
    ids = torch.tensor([[5, 6, 7, 8]])
    assert student(input_ids=ids).logits.shape == (1, 3)


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_a_bare_encoder_is_cut_like_a_task_model(model_type):
    """An encoder without a head (AutoModel: keys `encoder.layer.N.*`, no `bert.` prefix) keeps the chosen layers."""
    torch.manual_seed(0)
    encoder = AutoModel.from_config(tiny(model_type).config).eval()
    student = student_from_teacher(encoder, layers=[2, 4])
    assert type(student) is type(encoder) and student.config.num_hidden_layers == 2
    for s_index, t_layer in enumerate([2, 4]):
        for (name, p_s), (_, p_t) in zip(get_layers(student)[s_index].named_parameters(),
                                         get_layers(encoder)[t_layer - 1].named_parameters()):
            assert torch.equal(p_s, p_t), name


def test_student_layers_validated():
    teacher = tiny("bert")
    with pytest.raises(ValueError, match="1..4"):
        student_from_teacher(teacher, layers=[0, 2])
    with pytest.raises(ValueError, match="num_layers"):
        student_from_teacher(teacher)


def test_student_from_smaller_config():
    teacher = tiny("bert")
    student = student_from_config(teacher, num_hidden_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=32)
    assert student.config.hidden_size == 16 and student.config.id2label == teacher.config.id2label
    assert student(input_ids=torch.tensor([[5, 6]])).logits.shape == (1, 3)
    with pytest.raises(ValueError, match="no field"):
        student_from_config(teacher, hiden_size=16)
    with pytest.raises(ValueError, match="divisible"):
        student_from_config(teacher, hidden_size=18, num_attention_heads=4)


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_student_dropout_turns_every_dropout_off_in_training_mode(model_type, tmp_path):
    from hf_distill.arguments import ModelArguments
    from hf_distill.student import build_student

    teacher = tiny(model_type)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])

    def two_training_passes(student):
        student.train()
        torch.manual_seed(1)
        return student(input_ids=ids).logits, student(input_ids=ids).logits

    first, second = two_training_passes(build_student(ModelArguments(student_num_layers=2), teacher))
    assert not torch.equal(first, second)  # as built: the teacher's dropout
    student = build_student(ModelArguments(student_num_layers=2, student_dropout=0.0), teacher)
    first, second = two_training_passes(student)
    assert torch.equal(first, second)
    assert torch.allclose(first, student.eval()(input_ids=ids).logits, atol=1e-6)
    student.save_pretrained(tmp_path)  # the saved config records it: a reloaded student trains without dropout too
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert all(m.p == 0.0 for m in reloaded.modules() if isinstance(m, torch.nn.Dropout))
    with pytest.raises(ValueError, match="student_dropout must be in"):
        ModelArguments(student_dropout=1.0)


# -- width-sliced students (weight selection, arXiv:2311.18823) --------------------------------------------------

NARROW = dict(hidden_size=24, num_attention_heads=3, intermediate_size=48)  # from 32 wide, 4 heads of 8, ffn 64


def narrow_for(model_type):
    return {k: v for k, v in NARROW.items() if not (model_type == "distilbert" and k == "intermediate_size")}


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_sliced_student_at_full_width_is_the_copied_student(model_type):
    teacher = tiny(model_type)
    plain = student_from_teacher(teacher, layers=[1, 3])
    full = student_from_teacher(teacher, layers=[1, 3], hidden_size=32, num_attention_heads=4)
    assert full.config.to_dict() == plain.config.to_dict() and sliced_from(full) is None
    p_state, f_state = plain.state_dict(), full.state_dict()
    assert p_state.keys() == f_state.keys() and all(torch.equal(p_state[k], f_state[k]) for k in p_state)


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_sliced_tensors_are_the_teachers_leading_blocks(model_type):
    teacher = tiny(model_type)
    student = student_from_teacher(teacher, layers=[1, 3], **narrow_for(model_type))
    assert type(student) is type(teacher) and student.config.hidden_size == 24
    assert student.config.num_attention_heads == 3 and copied_layers(student) == [1, 3]
    assert sliced_from(student)["hidden_size"] == 32 and sliced_from(student)["num_attention_heads"] == 4
    t_state, s_state = teacher.state_dict(), student.state_dict()
    layer_of = {"0": "0", "1": "2"}  # student block -> teacher block (0-based)
    for key, value in s_state.items():
        source = re.sub(r"\.layer\.(\d+)\.", lambda m: f".layer.{layer_of[m.group(1)]}.", key)
        block = t_state[source][tuple(slice(0, n) for n in value.shape)]
        assert torch.equal(value, block), key
    assert student(input_ids=torch.tensor([[5, 6, 7, 8]])).logits.shape == (1, 3)


def test_sliced_bert_keeps_the_first_dims_heads_and_units():
    teacher = tiny("bert")
    student = student_from_teacher(teacher, layers=[2], **NARROW)
    t, s = teacher.state_dict(), student.state_dict()
    for name, shape in {
        "bert.embeddings.word_embeddings.weight": (99, 24),  # residual dims 0..23 everywhere
        "bert.embeddings.position_embeddings.weight": (40, 24),
        "bert.embeddings.LayerNorm.weight": (24,),
        "bert.encoder.layer.{}.attention.self.query.weight": (24, 24),  # rows: heads 0..2 of 8; cols: residual
        "bert.encoder.layer.{}.attention.self.value.bias": (24,),
        "bert.encoder.layer.{}.attention.output.dense.weight": (24, 24),  # rows: residual; cols: heads 0..2
        "bert.encoder.layer.{}.intermediate.dense.weight": (48, 24),  # FFN units 0..47
        "bert.encoder.layer.{}.output.dense.weight": (24, 48),
        "bert.encoder.layer.{}.output.LayerNorm.bias": (24,),
        "bert.pooler.dense.weight": (24, 24),
        "classifier.weight": (3, 24),
        "classifier.bias": (3,),
    }.items():
        block = tuple(slice(0, n) for n in shape)
        assert s[name.format(0)].shape == shape and torch.equal(s[name.format(0)], t[name.format(1)][block]), name
    assert student.config.intermediate_size == 48 and student.config.hf_distill_teacher_layers == [2]


def test_sliced_widths_check_the_head_size():
    config = tiny("bert").config  # 32 wide, 4 heads of size 8, ffn 64
    assert sliced_widths(config, hidden_size=16) == {"hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 64}
    assert sliced_widths(config, num_attention_heads=3)["hidden_size"] == 24
    with pytest.raises(ValueError, match=r"head size 4, the teacher's is 8 .*num_attention_heads=2 for hidden_size 16"):
        sliced_widths(config, hidden_size=16, num_attention_heads=4)
    with pytest.raises(ValueError, match="not a multiple of the teacher's head size 8"):
        sliced_widths(config, hidden_size=20)
    with pytest.raises(ValueError, match="head size 5, the teacher's is 8.*multiple of 8"):
        sliced_widths(config, hidden_size=20, num_attention_heads=4)
    with pytest.raises(ValueError, match="between 1 and the teacher's 64"):
        sliced_widths(config, hidden_size=16, intermediate_size=128)
    # DistilBERT keeps its FFN width in `hidden_dim` (ARCHITECTURES' ffn field)
    assert sliced_widths(tiny("distilbert").config, hidden_size=16, intermediate_size=32) == {
        "hidden_size": 16, "num_attention_heads": 2, "hidden_dim": 32}
    sliced = student_from_teacher(tiny("distilbert"), num_layers=2, hidden_size=16, intermediate_size=32)
    assert (sliced.config.dim, sliced.config.hidden_dim) == (16, 32)
    with pytest.raises(ValueError, match="head size"):
        student_from_teacher(tiny("bert"), num_layers=2, hidden_size=16, num_attention_heads=4)


def test_slicing_refuses_dims_of_unknown_role():
    fused = torch.randn(96, 32)  # a fused Q/K/V: its leading block would mix Q and K
    with pytest.raises(ValueError, match="dim 0 is 96 in the teacher and 72 .*role is unknown"):
        slice_to(fused, (72, 24), {(32, 24): "hidden_size"}, "attn.in_proj")
    assert torch.equal(slice_to(fused, (96, 24), {(32, 24): "hidden_size"}), fused[:, :24])

    teacher = tiny("bert")  # a BERT whose Q is not a plain Linear: the roles of its dims are not known
    query = get_layers(teacher)[0].attention.self.query
    get_layers(teacher)[0].attention.self.query = torch.nn.Sequential(query)
    with pytest.raises(ValueError, match="Cannot width-slice model_type 'bert'"):
        student_from_teacher(teacher, num_layers=2, hidden_size=16)

    with pytest.raises(ValueError, match="no place for the teacher's electra.embeddings_project.weight"):
        student_from_teacher(tiny("electra"), num_layers=2, hidden_size=16)  # = its embedding_size: no projection

    gpt2 = AutoModelForSequenceClassification.from_config(
        AutoConfig.for_model("gpt2", vocab_size=99, n_positions=40, n_embd=32, n_layer=2, n_head=4, num_labels=3))
    with pytest.raises(ValueError, match="not in hf_distill.architectures.ARCHITECTURES"):
        student_from_teacher(gpt2, num_layers=1, hidden_size=16)


def test_sliced_student_distils_with_projections_saves_and_reloads(tmp_path):
    from conftest import make_tokenizer, tiny_bert, tiny_dataset
    from transformers import DataCollatorWithPadding

    from hf_distill import DistillationConfig, DistillationTrainer
    from hf_distill.layer_map import PROJECTIONS_ATTR

    teacher = tiny_bert(num_layers=4, hidden=32, heads=4, seed=1)
    student = student_from_teacher(teacher, num_layers=2, hidden_size=16, num_attention_heads=2, intermediate_size=32)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    tok = make_tokenizer()
    args = DistillationConfig(
        output_dir=str(tmp_path / "out"), max_steps=3, per_device_train_batch_size=8, learning_rate=1e-3,
        report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True, seed=0, logging_steps=1, hidden_weight=1.0,
        attention_weight=1.0, attention_loss="minilm", relation_heads=2,
    )
    trainer = DistillationTrainer(model=student, teacher=teacher, args=args, train_dataset=tiny_dataset(tok, n=16),
                                  processing_class=tok, data_collator=DataCollatorWithPadding(tok))
    assert hasattr(student, PROJECTIONS_ATTR)  # 16 -> 32 projections for the hidden-state loss
    trainer.train()
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert logged and all(h["loss/hidden"] > 0 and h["loss/attention"] > 0 for h in logged)
    assert any(not torch.equal(v, student.state_dict()[k]) for k, v in before.items())

    trainer.save_model(str(tmp_path / "student"))
    loaded, info = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "student"), output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert loaded.config.hf_distill_sliced_from == {"hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 64}
    assert loaded.config.hf_distill_teacher_layers == [1, 3]
    ids = torch.tensor([[5, 6, 7, 8]])
    student.eval()
    with torch.no_grad():
        assert torch.allclose(loaded.eval()(input_ids=ids).logits, student(input_ids=ids).logits, atol=1e-6)
