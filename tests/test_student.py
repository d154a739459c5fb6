"""Students built from the teacher's own layers, for every architecture in ARCHITECTURES, and from a config."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification

from hf_distill.architectures import ARCHITECTURES, get_layers
from hf_distill.student import default_student_layers, student_from_config, student_from_teacher


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
