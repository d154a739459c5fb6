"""hf_distill.layer_map: the teacher-to-student layer pairs, their syntax, defaults and range checks."""

import pytest
from test_checks import build

from hf_distill import DistillationConfig
from hf_distill.layer_map import attention_pairs, parse_layer_map, resolve_pairs, uniform_layer_map


def test_uniform_map_and_parsing():
    assert uniform_layer_map(6, 3) == [(2, 1), (4, 2), (6, 3)]
    assert uniform_layer_map(12, 6) == [(2, 1), (4, 2), (6, 3), (8, 4), (10, 5), (12, 6)]
    assert uniform_layer_map(6, 2) == [(3, 1), (6, 2)]
    assert parse_layer_map("0:0, 2:1,4:2") == [(0, 0), (2, 1), (4, 2)] and parse_layer_map(None) is None
    assert parse_layer_map([(6, 3)]) == [(6, 3)]
    with pytest.raises(ValueError, match="same student layer"):
        parse_layer_map("2:1,4:1")
    with pytest.raises(ValueError, match="empty"):
        parse_layer_map(",")


def test_attention_pairs_drop_the_embeddings_and_follow_the_hidden_map(tmp_path):
    assert attention_pairs([(0, 0), (3, 1), (6, 2)]) == [(3, 1), (6, 2)]
    args = DistillationConfig(output_dir=str(tmp_path), layer_map="0:0,3:1,6:2")
    assert resolve_pairs(args, 6, 2) == ([(0, 0), (3, 1), (6, 2)], [(3, 1), (6, 2)])
    args = DistillationConfig(output_dir=str(tmp_path), attention_layer_map="6:2")
    assert resolve_pairs(args, 6, 2) == ([(3, 1), (6, 2)], [(6, 2)])


def test_layer_map_out_of_range(tmp_path):
    with pytest.raises(ValueError, match="out of range.*0..4.*0..2"):
        build(tmp_path, hidden_weight=1.0, layer_map="2:1,8:2")
    with pytest.raises(ValueError, match="cannot read"):
        DistillationConfig(output_dir=str(tmp_path), layer_map="2-1")
