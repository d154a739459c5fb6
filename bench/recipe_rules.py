"""Why the shipped recipe lost to labels-only on small data, and which rule fixes it: candidates scored on held-out
*training* rows of tasks of different kinds (never on their validation or test rows).

    python bench/recipe_rules.py --tasks stsb,banking77,sst2_small             # every candidate (~40 min a task)
    python bench/recipe_rules.py --tasks stsb --candidates shipped,labels_shipped
    python bench/recipe_rules.py --summarise                                   # rebuild recipe_rules.md/.json
    python bench/recipe_rules.py --smoke --tasks stsb --candidates s2k          # a minutes-long check in /tmp
    python bench/recipe_rules.py --tasks banking77_few --candidates teacher_lr1e-4,s2k_pre,s2k_pre_unlab,labels_s2k_pre \
        --teacher_from teacher_lr1e-4                                           # unlabelled texts (~34 min in fp32)
    python bench/recipe_rules.py --tasks sst2_full --candidates teacher_lr5e-5,e2_pre,s4k_pre \
        --teacher_from teacher_lr5e-5                                           # epochs on large data (~42 min in fp32)
    python bench/recipe_rules.py --tasks stsb --candidates teacher_lr1e-4_fp32  # STS-B's teacher in fp32 (20 min)
    python bench/recipe_rules.py --tasks stsb --teacher_from teacher_lr1e-4_fp32 --candidates \
        s2k_pre_aug_cross,s2k_pre_aug_cross_logit2,s2k_pre_aug12_cross,s2k_pre_aug_cross_noatt  # pairs (~50 min in fp32)
    python bench/recipe_rules.py --tasks stsb --teacher_from teacher_lr1e-4_fp32 --candidates s2k_pre_aug_cross_lr2e-4
    python bench/recipe_rules.py --tasks stsb --teacher_from teacher_lr1e-4_fp32 \
        --fit s2k_pre_aug_cross,s2k_pre_aug_cross_noatt   # student vs teacher on its training rows (recipe_rules/fit/)

Per task: a seeded held-out slice of the training rows (800 for STS-B, 1,000 otherwise; `sst2_small`: 6,000 SST-2
training rows and 1,000 held-out whole sentences with every phrase of them dropped from training; `sst2_full`: every
SST-2 training row but 1,000 such sentences and their phrases; `banking77_few`: 2,000 labelled BANKING77 training rows
and the texts of the other 7,003 as --unlabeled_file), a teacher fine-tuned
by `hf-distill train-teacher` from the PyPI MiniLM on the rest (3 epochs, lr 5e-5), then each candidate distils the
same 3-layer student (cut from the teacher, `hf-distill distill` run as a user would, in its own process) and is
scored once on the held-out rows. One file per task and candidate in bench/results/recipe_rules/ (skipped when
present, so runs resume); bench/results/recipe_rules.md tables them. Run it alone: its timings are wall clock.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import random
from dataclasses import replace

import suite_data
from suite_data import python_cmd, run, write_json

from hf_distill.recipe import pair_copies

RESULTS = os.path.join(suite_data.REPO, "bench", "results")
OUT_DIR = os.path.join(RESULTS, "recipe_rules")
WORK = os.path.join(suite_data.REPO, "runs", "recipe_rules")
BATCH = 32
MAX_LENGTH = {"stsb": 128, "banking77": 64, "sst2_small": 64, "sst2_mpnet": 64, "banking77_few": 64, "sst2_full": 64}
HELD_OUT = {"stsb": 800, "banking77": 1000, "sst2_small": 1000, "sst2_mpnet": 1000, "banking77_few": 1000,
            "sst2_full": 1000}
FEW_LABELLED = 2000  # banking77_few: labelled training rows; the texts of the rest are unlabelled
SST2_SMALL_ROWS = 6000
MINILM_TEACHER = ["--pretrained_model", "pypi:all-MiniLM-L6-v2", "--teacher_num_train_epochs", "3",
                  "--teacher_learning_rate", "5e-5"]
# sst2_mpnet: the base-size row of bench/tasks.py on held-out rows. Its teacher is that row's (run
# `python bench/tasks.py --tasks sst2_mpnet` first: 2 cores train its base-size teacher in ~6 min in bf16, 9 in fp32),
# trained on the suite's 4,000 SST-2 rows; held out: 1,000 other whole training sentences (see _sst2_mpnet).
SUITE_MPNET = os.path.join(suite_data.REPO, "runs", "tasks", "sst2_mpnet")
SETUP = {"sst2_mpnet": {"teacher_dir": os.path.join(SUITE_MPNET, "teacher"), "pretrained": "pypi:all-mpnet-base-v2",
                        "student_layers": 6}}

SHIPPED = dict(hard_label_weight=0.5, logit_weight=0.5, hidden_weight=1.0, attention_weight=0.1,
               attention_loss="tinybert", num_train_epochs=2, learning_rate=1e-4)
V3 = dict(hard_label_weight=0.5, logit_weight=0.5, hidden_weight=3.0, attention_weight=0.1, attention_loss="tinybert",
          learning_rate=1e-4, bf16="auto", train_sampling_strategy="group_by_length", cache=True)
LABELS = dict(hard_label_weight=1.0, logit_weight=0.0, hidden_weight=0.0, attention_weight=0.0, learning_rate=1e-4,
              train_sampling_strategy="group_by_length", bf16="auto")
GENERAL_MINILM_L3 = os.path.join(suite_data.REPO, "runs", "general", "minilm_l3")  # bench/general_init.py --out
GENERAL_MINILM_L3_STSB = GENERAL_MINILM_L3 + "_stsb"  # the same on STS-B's training texts (--text_file)


def student_of(candidate: str, task: str = "stsb", teacher_from: str = "teacher_lr1e-4_fp32") -> str:
    """The folder of the student another candidate (distilled from a teacher candidate's teacher, run first) saved."""
    return os.path.join(WORK, task, f"{candidate}__{teacher_from}", "student")


def cut_from(candidate: str, layers: str) -> dict:
    """Settings that cut a student's `layers` from the student another candidate saved (`student_of`): an assistant's."""
    return {"pretrained": student_of(candidate), "student_layers": layers}

AUG_ROWS = 30000  # augmented candidates: teacher-labelled copies until the rows reach about this many (recipe.pair_copies)


def steps_per_epoch(rows: int) -> int:
    return math.ceil(rows / BATCH)


def aug_copies(rows: int) -> int:
    return pair_copies(rows, AUG_ROWS)


def s2k_steps(rows: int) -> int:
    """4 epochs, at least 2,000 steps: the length most candidates train."""
    return max(4 * steps_per_epoch(rows), 2000)


def twice_s2k_steps(rows: int) -> int:
    """Twice `s2k_steps`: the recipe's 4,000-step floor where 4 epochs are fewer."""
    return 2 * s2k_steps(rows)


def s1k_steps(rows: int) -> int:
    """Half of `s2k_steps`: the half-length assistants'."""
    return s2k_steps(rows) // 2


# sentence pairs as the recipe distils them: the pretrained cut, teacher-labelled copies, a fifth of them crossed
PAIRS = dict(V3, init="pretrained", augment=True, augment_cross_prob=0.2)
PAIRS_NOATT = dict(PAIRS, attention_weight=0.0)
PAIRS_NB3 = dict(PAIRS_NOATT, augment_cross_neighbours=3)  # crossed to one of the 3 rows sharing the most words


# the 3-layer student cut from the retrained half-length chain's 4-layer assistant (run first), taught by the teacher
FROM_L4_R2 = dict(PAIRS_NB3, **cut_from("s1k_chain5_aug_cross_nb3_noatt_l4_r2", "1,2,3"))
# the same cut from that assistant's layers 1, 2 and 4 (the recipe's `assisted_cut` top): the changes tried on it
TOP_FROM_L4_R2 = dict(FROM_L4_R2, student_layers="1,2,4")
# the student of the chain cut by the top rule at every stage (run its two assistants first)
ALLTOP = dict(PAIRS_NB3, **cut_from("s1k_chain5top_aug_cross_nb3_noatt_l4_top", "1,2,4"))


# name -> (settings, how many steps: a function of the training rows, or None for the settings' epochs)
CANDIDATES = {
    "shipped": (SHIPPED, None),
    "labels_shipped": (dict(LABELS, train_sampling_strategy="random", bf16="false"), lambda n: 2 * steps_per_epoch(n)),
    "v3": (dict(V3, num_train_epochs=4), None),
    "s2k": (V3, s2k_steps),
    "labels_s2k": (LABELS, s2k_steps),
    "s2k_aug": (dict(V3, augment=True), s2k_steps),
    "s2k_pre": (dict(V3, init="pretrained"), s2k_steps),
    # the same with the task's unlabelled texts (--unlabeled_file: teacher-labelled, teacher terms only), same steps
    "s2k_pre_unlab": (dict(V3, init="pretrained", unlabeled=True), s2k_steps),
    # the default recipe (pretrained cut) with teacher-labelled copies, without intermediate terms, on labels only
    "s2k_pre_aug": (dict(V3, init="pretrained", augment=True), s2k_steps),
    "s4k_pre": (dict(V3, init="pretrained"), lambda n: max(4 * steps_per_epoch(n), 4000)),  # twice the step floor
    # large data: 2 epochs instead of 4 and no step floor (a lower bound on the rule max(2 epochs, 4,000 steps))
    "e2_pre": (dict(V3, init="pretrained"), lambda n: 2 * steps_per_epoch(n)),
    "s4k_pre_aug": (dict(V3, init="pretrained", augment=True), lambda n: max(4 * steps_per_epoch(n), 4000)),
    # sentence pairs: copies with their texts swapped, or with another row's second text (unrelated pairs)
    "s2k_pre_aug_swap": (dict(V3, init="pretrained", augment=True, augment_swap_prob=0.5), s2k_steps),
    "s2k_pre_aug_cross": (PAIRS, s2k_steps),
    # sentence pairs, beside the recipe's (6 copies, a fifth crossed): twice the copies (12), twice the crossed share
    # (0.4), the logit term (teacher's score, MSE for regression) at 2 instead of 0.5, or no attention term (at 0.1 it
    # was ~45% of the logged loss on STS-B pairs), or the student's learning rate at 2e-4 (the recipe's student matched
    # its teacher's scores on its own training pairs at Pearson 0.962 only: it underfits them; `--fit`)
    "s2k_pre_aug12_cross": (dict(PAIRS, copies=12), s2k_steps),
    "s2k_pre_aug_cross4": (dict(PAIRS, augment_cross_prob=0.4), s2k_steps),
    "s2k_pre_aug_cross_logit2": (dict(PAIRS, logit_weight=2.0), s2k_steps),
    "s2k_pre_aug_cross_noatt": (PAIRS_NOATT, s2k_steps),
    "s2k_pre_aug_cross_lr2e-4": (dict(PAIRS, learning_rate=2e-4), s2k_steps),
    # sentence pairs without the attention term, beside it: the hidden term at 1 instead of 3, the hidden term on the
    # last layer only (teacher 6 to student 3), the student cut from the fine-tuned teacher's layers instead of its
    # pretrained base (a start closer to the teacher's function), or a 4-layer student (layers 1, 3, 4, 6 of 6 by
    # default: whether depth closes the pairs' gap)
    "s2k_pre_aug_cross_noatt_h1": (dict(PAIRS_NOATT, hidden_weight=1.0), s2k_steps),
    "s2k_pre_aug_cross_noatt_last": (dict(PAIRS_NOATT, layer_map="6:3"), s2k_steps),
    "s2k_aug_cross_noatt": (dict(V3, augment=True, augment_cross_prob=0.2, attention_weight=0.0), s2k_steps),
    "s2k_pre_aug_cross_noatt_l4": (dict(PAIRS_NOATT, layers=4), s2k_steps),
    # the student without dropout: it underfits its teacher (Pearson 0.970 on its own training pairs), and the
    # teacher's soft targets and the copies already regularise it
    "s2k_pre_aug_cross_noatt_d0": (dict(PAIRS_NOATT, student_dropout=0.0), s2k_steps),
    # what else the 3-layer student's output could use on pairs: no hidden term (its capacity for the score alone),
    # no label term (the teacher's scores only), twice the crossed share of the copies
    "s2k_pre_aug_cross_noatt_h0": (dict(PAIRS_NOATT, hidden_weight=0.0), s2k_steps),
    "s2k_pre_aug_cross_noatt_hard0": (dict(PAIRS_NOATT, hard_label_weight=0.0), s2k_steps),
    "s2k_pre_aug_cross4_noatt": (dict(PAIRS_NOATT, augment_cross_prob=0.4), s2k_steps),
    # crossed copies of related pairs: the second text from one of the 3 rows sharing the most words with the first
    "s2k_pre_aug_cross_nb3_noatt": (PAIRS_NB3, s2k_steps),
    # the pairs' baseline again with another seed (its copies, head and batches): how far seeds alone move the score
    "s2k_pre_aug_cross_noatt_seed43": (dict(PAIRS_NOATT, seed=43), s2k_steps),
    "s2k_pre_aug_cross_nb3_noatt_seed43": (dict(PAIRS_NB3, seed=43), s2k_steps),
    # the 3-layer student cut from the bottom three layers (1, 2, 3: whole, as pretrained, each layer still reading
    # the output it was trained on) instead of every other one (1, 3, 5); Sajjad et al. (arXiv:2004.03844) found
    # dropping the top layers the best cut of a fine-tuned BERT on GLUE
    "s2k_pre_aug_cross_nb3_noatt_bottom": (dict(PAIRS_NB3, student_layers="1,2,3"), s2k_steps),
    # the 3-layer cut after task-agnostic distillation from its 6-layer base on general text (bench/general_init.py,
    # run first): all of it (its layers 1, 2, 3 are the base's 1, 3, 5, trained to follow the base's 2, 4, 6)
    "s2k_gen_aug_cross_nb3_noatt": (dict(PAIRS_NB3, pretrained=GENERAL_MINILM_L3, student_layers="1,2,3"), s2k_steps),
    # the same stage on the task's own training texts (its pairs, single texts and crossed pairs), no other text
    "s2k_gentask_aug_cross_nb3_noatt": (dict(PAIRS_NB3, pretrained=GENERAL_MINILM_L3_STSB, student_layers="1,2,3"),
                                        s2k_steps),
    "s2k_gentask_aug_cross_nb3_noatt_seed43": (dict(PAIRS_NB3, pretrained=GENERAL_MINILM_L3_STSB, student_layers="1,2,3",
                                                    seed=43), s2k_steps),
    # a teacher assistant (Mirzadeh et al., arXiv:1902.03393): the 3-layer student cut from the 4-layer student
    # already distilled from this teacher (s2k_pre_aug_cross_noatt_l4, run first; 0.845), its bottom three layers
    "s2k_ta4_aug_cross_nb3_noatt": (dict(PAIRS_NB3, **cut_from("s2k_pre_aug_cross_noatt_l4", "1,2,3")), s2k_steps),
    # assistants in a chain, each stage one layer shallower than the one before: 5 layers cut from the teacher's
    # pretrained base, then 4 cut from the 5-layer student, then 3 from the 4-layer one (bottom layers each time)
    "s2k_pre_aug_cross_nb3_noatt_l5": (dict(PAIRS_NB3, layers=5), s2k_steps),
    "s2k_chain5_aug_cross_nb3_noatt_l4": (
        dict(PAIRS_NB3, layers=4, **cut_from("s2k_pre_aug_cross_nb3_noatt_l5", "1,2,3,4")),
        s2k_steps),
    "s2k_chain54_aug_cross_nb3_noatt": (
        dict(PAIRS_NB3, **cut_from("s2k_chain5_aug_cross_nb3_noatt_l4", "1,2,3")),
        s2k_steps),
    "s2k_chain54_aug_cross_nb3_noatt_seed43": (
        dict(PAIRS_NB3, **cut_from("s2k_chain5_aug_cross_nb3_noatt_l4", "1,2,3"), seed=43),
        s2k_steps),
    # the chain's last cut keeping the 4-layer assistant's top layer (1, 2, 4: the one its head reads) instead of 1, 2, 3
    "s2k_chain54top_aug_cross_nb3_noatt": (
        dict(PAIRS_NB3, **cut_from("s2k_chain5_aug_cross_nb3_noatt_l4", "1,2,4")),
        s2k_steps),
    # the same chain with each assistant trained half as long (1,000 steps each, the student its 2,000): at what cost
    "s1k_pre_aug_cross_nb3_noatt_l5": (dict(PAIRS_NB3, layers=5), s1k_steps),
    "s1k_chain5_aug_cross_nb3_noatt_l4": (
        dict(PAIRS_NB3, layers=4, **cut_from("s1k_pre_aug_cross_nb3_noatt_l5", "1,2,3,4")),
        s1k_steps),
    "s2k_chain54half_aug_cross_nb3_noatt": (
        dict(PAIRS_NB3, **cut_from("s1k_chain5_aug_cross_nb3_noatt_l4", "1,2,3")),
        s2k_steps),
    # the half-length chain again (its folders were gone), then its student distilled from the 4-layer assistant
    # instead of the teacher (TAKD as Mirzadeh et al. run it: each stage learns from the one before, not only starts
    # from it); the assistant is closer to the student's capacity, and weaker than the teacher
    "s1k_pre_aug_cross_nb3_noatt_l5_r2": (dict(PAIRS_NB3, layers=5), s1k_steps),
    "s1k_chain5_aug_cross_nb3_noatt_l4_r2": (
        dict(PAIRS_NB3, layers=4, **cut_from("s1k_pre_aug_cross_nb3_noatt_l5_r2", "1,2,3,4")),
        s1k_steps),
    "s2k_chain54half_fromta_aug_cross_nb3_noatt": (
        dict(FROM_L4_R2, teacher_dir=student_of("s1k_chain5_aug_cross_nb3_noatt_l4_r2")), s2k_steps),
    # the control for the one above: the same half-length chain's student distilled from the teacher (as the recipe does)
    "s2k_chain54half_r2_aug_cross_nb3_noatt": (FROM_L4_R2, s2k_steps),
    # the chain's student from a start already close to its assistant: what it could still use, one change each: half
    # the learning rate (5e-5, a fine-tuning rate from a good start), the recipe's 4,000-step floor as the suite runs it
    # (twice the steps of these candidates), half the steps
    "s2k_chain54half_r2_lr5e-5_aug_cross_nb3_noatt": (dict(FROM_L4_R2, learning_rate=5e-5), s2k_steps),
    "s4k_chain54half_r2_aug_cross_nb3_noatt": (FROM_L4_R2, twice_s2k_steps),
    "s1k_chain54half_r2_aug_cross_nb3_noatt": (FROM_L4_R2, s1k_steps),
    # the two lengths again with seed 43 (the copies, the head and the batches): whether halving loses anything
    "s2k_chain54half_r2_aug_cross_nb3_noatt_seed43": (dict(FROM_L4_R2, seed=43), s2k_steps),
    "s4k_chain54half_r2_aug_cross_nb3_noatt_seed43": (dict(FROM_L4_R2, seed=43), twice_s2k_steps),
    # half the learning rate again with seed 43: whether its +0.0009 with seed 42 holds
    "s2k_chain54half_r2_lr5e-5_aug_cross_nb3_noatt_seed43": (dict(FROM_L4_R2, learning_rate=5e-5, seed=43), s2k_steps),
    # the student kept as the mean of its weights over the last half of its steps (weight_averaging_fraction), two seeds
    "s2k_chain54half_r2_swa50_aug_cross_nb3_noatt": (dict(FROM_L4_R2, weight_averaging_fraction=0.5), s2k_steps),
    "s2k_chain54half_r2_swa50_aug_cross_nb3_noatt_seed43": (dict(FROM_L4_R2, weight_averaging_fraction=0.5, seed=43),
                                                            s2k_steps),
    # with MiniLMv2's Q/K/V relations of the teacher's last layer as the attention term (weight 1; the TinyBERT scores
    # lost on every kind of data), a live teacher (a cache of Q/K/V for 30k pairs would be ~9 GB a layer)
    "s2k_chain54half_r2_minilm_aug_cross_nb3": (
        dict(FROM_L4_R2, cache=False, attention_weight=1.0, attention_loss="minilm", attention_layer_map="6:3"),
        s2k_steps),
    # the student cut from the assistant's layers 1, 2 and 4 instead of its bottom three: its top layer, the one the
    # assistant's head reads (and that learnt the teacher's last layer), kept; a middle layer dropped instead
    "s2k_chain54half_r2_top_aug_cross_nb3_noatt": (TOP_FROM_L4_R2, s2k_steps),
    "s2k_chain54half_r2_top_aug_cross_nb3_noatt_seed43": (dict(TOP_FROM_L4_R2, seed=43), s2k_steps),
    # the top cut at every stage of the chain: the 5-layer assistant cut from the pretrained base's layers 1-4 and 6
    # (the layers its uniform map learns from: 6 -> 5 is 1,2,3,4,6), the 4-layer from its 1, 2, 3 and 5, the student
    # from that one's 1, 2 and 4; each stage keeps the top layer, the one the head reads
    "s1k_pre_aug_cross_nb3_noatt_l5_top": (dict(PAIRS_NB3, layers=5, student_layers="1,2,3,4,6"), s1k_steps),
    "s1k_chain5top_aug_cross_nb3_noatt_l4_top": (
        dict(PAIRS_NB3, layers=4, **cut_from("s1k_pre_aug_cross_nb3_noatt_l5_top", "1,2,3,5")), s1k_steps),
    "s2k_chain54half_alltop_aug_cross_nb3_noatt": (ALLTOP, s2k_steps),
    "s2k_chain54half_alltop_aug_cross_nb3_noatt_seed43": (dict(ALLTOP, seed=43), s2k_steps),
    # the top-cut student with twice the teacher-labelled copies (12, ~64k rows: each seen once in 2,000 steps of 32):
    # it follows its teacher at Pearson 0.988 on its own training pairs and 0.974 on held-out ones (--fit), a gap
    # that more inputs for the teacher to label could close
    "s2k_chain54half_r2_top_aug12_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, copies=12), s2k_steps),
    # or with its word embeddings frozen: words of held-out pairs that no training pair has keep their place among
    # the words that training moves (the embeddings are the assistant's, as its chain left them)
    "s2k_chain54half_r2_top_frozen_aug_cross_nb3_noatt": (
        dict(TOP_FROM_L4_R2, freeze_word_embeddings="true"), s2k_steps),
    "s2k_chain54half_r2_top_frozen_aug_cross_nb3_noatt_seed43": (
        dict(TOP_FROM_L4_R2, freeze_word_embeddings="true", seed=43), s2k_steps),
    # or with copies farther from the training sentences: twice the chance that a word is masked or replaced (0.2 each)
    "s2k_chain54half_r2_top_p2_aug_cross_nb3_noatt": (
        dict(TOP_FROM_L4_R2, augment_mask_prob=0.2, augment_replace_prob=0.2), s2k_steps),
    # and nearer: half the chance (0.05 each)
    "s2k_chain54half_r2_top_p05_aug_cross_nb3_noatt": (
        dict(TOP_FROM_L4_R2, augment_mask_prob=0.05, augment_replace_prob=0.05), s2k_steps),
    # the same gap, closed by regularising instead: the top-cut student at dropout 0.2 (its base's 0.1)
    "s2k_chain54half_r2_top_d2_aug_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, student_dropout=0.2),
                                                      s2k_steps),
    # or by inputs between the training pairs: MixKD (mixup_weight, arXiv:2011.00593), each row's word embeddings
    # mixed with another row's and scored by the live teacher, the logit term's weight (0.5) on the mixed rows
    "s2k_chain54half_r2_top_mix_aug_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, mixup_weight=0.5), s2k_steps),
    # the hidden term as 1 - cosine instead of MSE (the direction of each token's state, not its scale); the
    # learning rate warmed up over the first tenth of the steps (the Trainer's default: none)
    "s2k_chain54half_r2_top_cos_aug_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, hidden_loss="cosine"), s2k_steps),
    "s2k_chain54half_r2_top_warm_aug_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, warmup_steps=0.1), s2k_steps),
    # the output's share of the loss: the hidden term at 1 instead of 3 (it was ~80% of the logged loss), or the logit
    # term at 1.5 instead of 0.5
    "s2k_chain54half_r2_top_h1_aug_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, hidden_weight=1.0), s2k_steps),
    "s2k_chain54half_r2_top_h1_aug_cross_nb3_noatt_seed43": (dict(TOP_FROM_L4_R2, hidden_weight=1.0, seed=43),
                                                             s2k_steps),
    "s2k_chain54half_r2_top_kd15_aug_cross_nb3_noatt": (dict(TOP_FROM_L4_R2, logit_weight=1.5), s2k_steps),
    # single texts on large data without the attention term (the main job's 2 epochs)
    "e2_pre_noatt": (dict(V3, init="pretrained", attention_weight=0.0), lambda n: 2 * steps_per_epoch(n)),
    # and on small data with many classes (banking77_few), at the step floor
    "s2k_pre_noatt": (dict(V3, init="pretrained", attention_weight=0.0), s2k_steps),
    # the default recipe with the student's word embeddings frozen (1.3-1.8x faster cached steps on 2 cores)
    "s2k_pre_frozen": (dict(V3, init="pretrained", freeze_word_embeddings="true"), s2k_steps),
    "s2k_pre_logit": (dict(V3, init="pretrained", hidden_weight=0.0, attention_weight=0.0), s2k_steps),
    "labels_s2k_pre": (dict(LABELS, init="pretrained"), s2k_steps),
    "s2k_aug_logit": (dict(V3, augment=True, hidden_weight=0.0, attention_weight=0.0), s2k_steps),
    # a base-size (768-wide) student: the recipe's learning rate, and the same scaled by 384 / hidden size
    "base_lr1e-4": (dict(V3, init="pretrained"), lambda n: 1000),
    "base_lr5e-5": (dict(V3, init="pretrained", learning_rate=5e-5), lambda n: 1000),
}
# Teacher candidates: `train-teacher` from the PyPI MiniLM as the recipe runs it (>= 1 epoch and >= 2,000 steps),
# at each learning rate, scored on the same held-out rows.
TEACHER_CANDIDATES = {"teacher_lr5e-5": 5e-5, "teacher_lr1e-4": 1e-4, "teacher_lr2e-4": 2e-4, "teacher_lr1e-4_fp32": 1e-4}
# precision (--bf16) where not `auto`: the fp32 teacher repeats teacher_lr1e-4, trained in bf16 on an AMX CPU, on a CPU
# without bf16 (an AVX2 EPYC), so that its students are compared with a baseline distilled on the same machine
TEACHER_BF16 = {"teacher_lr1e-4_fp32": "false"}


def prepare_task(name: str, smoke: bool) -> dict:
    folder = os.path.join(WORK, name, "data")
    if name == "sst2_small":
        return _sst2_small(folder, smoke)
    if name == "sst2_mpnet":
        return _sst2_mpnet(folder, smoke)
    if name == "banking77_few":
        return _banking77_few(folder, smoke)
    if name == "sst2_full":
        return _sst2_full(folder, smoke)
    task = suite_data.TASKS[name]
    held = HELD_OUT[name] if not smoke else 64
    info = suite_data.prepare(task, folder, held_out=held, seed=0)
    if smoke:
        rows = suite_data.read_rows(info["train"])[:256]
        suite_data.write_jsonl(rows, info["train"])
        info["rows"]["train"] = info["rows"]["train"][:256]
    return {**info, "task": task}


def _sst2_small(folder: str, smoke: bool) -> dict:
    """6,000 random SST-2 training rows; held out: 1,000 whole sentences (>= 15 words, inside no other row), every
    training row that is one of their phrases dropped (otherwise a held-out sentence's phrases leak its label)."""
    rows = suite_data.read_rows(os.path.join(suite_data.SHARED, suite_data.TASKS["sst2"].train))
    rng = random.Random(0)
    pool, held = suite_data.sst2_held_out_sentences([r["sentence"] for r in rows], HELD_OUT["sst2_small"] if not smoke
                                                    else 64, rng=rng)
    train = sorted(rng.sample(pool, SST2_SMALL_ROWS if not smoke else 256))  # the same generator, drawn on
    return _write_sst2(folder, rows, train, held)


def _write_sst2(folder: str, rows: list[dict], train: list[int], held: list[int]) -> dict:
    """train.jsonl and heldout.jsonl from SST-2 training rows (indices into `rows`), labels as ints."""
    typed = lambda i: {"sentence": rows[i]["sentence"], "label": int(rows[i]["label"])}  # noqa: E731
    paths = {"train": suite_data.write_jsonl([typed(i) for i in train], os.path.join(folder, "train.jsonl")),
             "heldout": suite_data.write_jsonl([typed(i) for i in held], os.path.join(folder, "heldout.jsonl"))}
    return {**paths, "validation": None, "rows": {"train": train, "heldout": held}, "task": suite_data.TASKS["sst2"]}


def _sst2_full(folder: str, smoke: bool) -> dict:
    """Every SST-2 training row but 1,000 held-out whole sentences and their phrases (as `sst2_small` holds out):
    the main job's data, for rules that only large data reaches (epochs above the step floor)."""
    rows = suite_data.read_rows(os.path.join(suite_data.SHARED, suite_data.TASKS["sst2"].train))
    train, held = suite_data.sst2_held_out_sentences([r["sentence"] for r in rows], HELD_OUT["sst2_full"] if not smoke
                                                     else 64, seed=0)
    return _write_sst2(folder, rows, train[:256] if smoke else train, held)


def _sst2_mpnet(folder: str, smoke: bool) -> dict:
    """bench/tasks.py's 4,000 SST-2 rows (its teacher trained on them); held out: 1,000 other whole training sentences
    (>= 15 words, inside no other row, and holding none of the 4,000 rows as a phrase, so no label leaks)."""
    task = suite_data.TASKS["sst2"]
    info = suite_data.prepare(replace(task, train_rows=4000), folder, seed=0)
    rows = suite_data.read_rows(os.path.join(suite_data.SHARED, task.train))
    texts = [" ".join(r["sentence"].split()) for r in rows]
    corpus = "\n".join(f" {t} " for t in texts)
    trained = set(info["rows"]["train"])
    phrases = [f" {texts[i]} " for i in trained]
    rng = random.Random(0)
    candidates = [i for i, t in enumerate(texts) if i not in trained and len(t.split()) >= 15 and corpus.count(f" {t} ") == 1]
    held = []
    for i in rng.sample(candidates, len(candidates)):
        if not any(p in f" {texts[i]} " for p in phrases):
            held.append(i)
        if len(held) == (HELD_OUT["sst2_mpnet"] if not smoke else 64):
            break
    held.sort()
    typed = lambda i: {"sentence": rows[i]["sentence"], "label": int(rows[i]["label"])}  # noqa: E731
    info["heldout"] = suite_data.write_jsonl([typed(i) for i in held], os.path.join(folder, "heldout.jsonl"))
    info["rows"]["heldout"] = held
    return {**info, "task": task}


def _banking77_few(folder: str, smoke: bool) -> dict:
    """BANKING77 with few labels: the held-out 1,000 rows as for `banking77`, then 2,000 labelled training rows (seeded)
    and the texts of the other training rows, without their labels, as unlabeled.jsonl."""
    task = suite_data.TASKS["banking77"]
    info = suite_data.prepare(task, folder, held_out=HELD_OUT["banking77_few"] if not smoke else 64, seed=0)
    rows = suite_data.read_rows(info["train"])
    order = random.Random(0).sample(range(len(rows)), len(rows))
    labelled = sorted(order[: FEW_LABELLED if not smoke else 256])
    rest = sorted(order[FEW_LABELLED if not smoke else 256:])
    suite_data.write_jsonl([rows[i] for i in labelled], info["train"])
    info["unlabeled"] = suite_data.write_jsonl([{task.text_column: rows[i][task.text_column]} for i in rest],
                                               os.path.join(folder, "unlabeled.jsonl"))
    info["rows"]["unlabeled"] = [info["rows"]["train"][i] for i in rest]
    info["rows"]["train"] = [info["rows"]["train"][i] for i in labelled]
    return {**info, "task": task}


def data_options(info: dict) -> list[str]:
    task = info["task"]
    return ["--train_file", info["train"], "--validation_file", info["heldout"], *task.column_options()]


def ensure_teacher(name: str, info: dict, smoke: bool, out_dir: str) -> tuple[str, dict]:
    out = os.path.join(WORK, name)
    teacher = os.path.join(out, "teacher")
    record = os.path.join(out_dir, f"{name}_teacher.json")
    if os.path.isfile(os.path.join(teacher, "model.safetensors")) and os.path.isfile(record):
        with open(record) as f:
            return teacher, json.load(f)
    if "teacher_dir" in SETUP.get(name, {}):  # trained elsewhere, on this task's training rows
        teacher = SETUP[name]["teacher_dir"]
        if not os.path.isfile(os.path.join(teacher, "model.safetensors")):
            raise SystemExit(f"{name} distils the teacher of bench/tasks.py, not found in {teacher}: "
                             f"run `python bench/tasks.py --tasks {name}` first.")
        result = {"task": name, "teacher_dir": teacher, "heldout": score(teacher, info, MAX_LENGTH[name]),
                  "train_rows": len(info["rows"]["train"]), "heldout_rows": len(info["rows"]["heldout"])}
        write_json(record, result)
        return teacher, result
    cmd = python_cmd("train-teacher", *data_options(info), "--max_length", str(MAX_LENGTH[name]),
                     *MINILM_TEACHER, *(["--teacher_num_train_epochs", "1"] if smoke else []),
                     "--per_device_train_batch_size", str(BATCH),
                     "--save_strategy", "no", "--report_to", "none", "--use_cpu", "true", "--seed", "42",
                     "--logging_steps", "50", "--output_dir", out)
    seconds = run(cmd, os.path.join(out, "train_teacher.log"))
    result = {"task": name, "train_s": seconds, "heldout": score(teacher, info, MAX_LENGTH[name]),
              "train_rows": len(info["rows"]["train"]), "heldout_rows": len(info["rows"]["heldout"])}
    write_json(record, result)
    return teacher, result


def score(model_dir: str, info: dict, max_length: int) -> dict:
    """The model's metrics on the held-out training rows (labels matched to the model's ids by name)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_distill.report import evaluate_model

    task = info["task"]
    texts, pairs, labels = suite_data.texts_and_labels(info["heldout"], task)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    regression = task.metric in ("pearsonr", "spearmanr")
    if not regression:
        label2id = model.config.label2id
        labels = [label2id[y] if y in label2id else label2id.get(f"LABEL_{y}", y) for y in labels]
    return evaluate_model(model, tokenizer, texts, labels, text_pairs=pairs, max_length=max_length,
                          is_regression=regression)


# the settings that change what the teacher cache holds (its rows, or the teacher layers a depth maps), by the tag
# that names them in the cache folder: candidates that differ only in the student's own terms share a cache
CACHE_TAGS = {"augment_mask_prob": "mask", "augment_replace_prob": "rep", "augment_swap_prob": "swap",
              "augment_cross_prob": "cross", "augment_cross_neighbours": "nb",
              "seed": "seed"}  # the seed draws the copies


def cache_kind(settings: dict, copies: int, unlabeled: bool, layers: int | None) -> str:
    """The teacher cache folder's name for a candidate, e.g. `aug6_l4_cross0.2_nb3` (`plain` without copies)."""
    kind = (f"aug{copies}" if copies else "plain") + ("_unlab" if unlabeled else "") + (f"_l{layers}" if layers else "")
    return kind + "".join(f"_{tag}{settings[key]:g}" for key, tag in CACHE_TAGS.items() if settings.get(key))


def run_candidate(name: str, cand: str, info: dict, teacher: str, smoke: bool, out_dir: str,
                  teacher_from: str | None = None) -> None:
    tag = f"{cand}__{teacher_from}" if teacher_from else cand  # distilled from a teacher candidate's teacher
    path = os.path.join(out_dir, f"{name}_{tag}.json")
    if os.path.isfile(path):
        print(f"skip {path} (exists)", flush=True)
        return
    settings, steps_rule = CANDIDATES[cand]
    settings = dict(settings)
    layers = settings.pop("layers", None)  # another depth than the task's
    taught_by = settings.pop("teacher_dir", None)  # a student of another candidate as the teacher (an assistant)
    teacher = taught_by or teacher
    n = len(info["rows"]["train"])
    work = os.path.join(WORK, name, tag)
    argv = ["distill", *data_options(info), "--max_length", str(MAX_LENGTH[name]), "--teacher", teacher,
            "--student_num_layers", str(layers or SETUP.get(name, {}).get("student_layers", 3)),
            "--per_device_train_batch_size", str(BATCH), "--per_device_eval_batch_size", "128",
            "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none", "--use_cpu", "true",
            "--seed", "42", "--logging_steps", "100", "--output_dir", work]
    base = settings.pop("pretrained", None) or SETUP.get(name, {}).get("pretrained", "pypi:all-MiniLM-L6-v2")
    if settings.pop("init", None) == "pretrained":  # the same layers, cut from the teacher's pretrained base instead
        argv += ["--student_init", "pretrained", "--pretrained_model", base]
    copies = 0
    fixed_copies = settings.pop("copies", None)
    if settings.pop("augment", False):
        copies = fixed_copies or aug_copies(n)
        argv += ["--augment_copies", str(copies)]
    unlabeled = settings.pop("unlabeled", False)
    if unlabeled:
        argv += ["--unlabeled_file", info["unlabeled"]]
    if settings.pop("cache", False):
        kind = cache_kind(settings, copies, unlabeled, layers) + (f"_{tag}" if taught_by else "")  # its own teacher's
        argv += ["--teacher_cache_dir", os.path.join(WORK, name, f"cache_{kind}{'_' + teacher_from if teacher_from else ''}")]
    if steps_rule is not None or smoke:
        steps = 30 if smoke else steps_rule(n)
        argv += ["--max_steps", str(steps)]
    else:  # the settings' epochs over the rows and their copies
        steps = math.ceil(settings["num_train_epochs"] * steps_per_epoch(n * (1 + copies)))
    for key, value in settings.items():
        argv += [f"--{key}", str(value)]
    seconds = run(python_cmd(*argv), os.path.join(work, "distill.log"))
    with open(os.path.join(work, "student", "hf_distill.json")) as f:
        distilled = json.load(f)
    result = {"task": name, "candidate": cand, "teacher_from": teacher_from, "settings": CANDIDATES[cand][0],
              "augment_copies": copies, "unlabeled_rows": len(info["rows"]["unlabeled"]) if unlabeled else 0,
              "train_rows": n, "wall_s": seconds, "train_runtime_s": distilled.get("train_runtime_s"),
              "steps": steps, "heldout": score(os.path.join(work, "student"), info, MAX_LENGTH[name])}
    write_json(path, result)
    print(json.dumps(result), flush=True)


def fit(name: str, cand: str, info: dict, teacher_from: str, out_dir: str, rows: int = 800) -> dict:
    """How closely a regression candidate's student follows its teacher (Pearson of their scores) on `rows` of its own
    training rows (seeded) and on the held-out rows: whether it underfits the teacher or fails to generalise."""
    import numpy as np
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from hf_distill.report import predict_logits

    task, max_length = info["task"], MAX_LENGTH[name]
    folders = {"teacher": os.path.join(WORK, name, teacher_from, "teacher"),
               "student": os.path.join(WORK, name, f"{cand}__{teacher_from}", "student")}
    models = {who: (AutoModelForSequenceClassification.from_pretrained(folder), AutoTokenizer.from_pretrained(folder))
              for who, folder in folders.items()}  # loaded once for both splits
    train = suite_data.read_rows(info["train"])
    pick = np.random.default_rng(0).choice(len(train), min(rows, len(train)), replace=False)
    result = {"task": name, "fit_of": cand, "teacher_from": teacher_from, "train_rows_scored": len(pick)}
    for split, path in (("train", info["train"]), ("heldout", info["heldout"])):
        texts, pairs, labels = suite_data.texts_and_labels(path, task)
        idx = pick if split == "train" else np.arange(len(texts))
        texts, labels = [texts[i] for i in idx], np.array([float(labels[i]) for i in idx])
        pairs = [pairs[i] for i in idx] if pairs else None
        scores = {who: predict_logits(model, tokenizer, texts, pairs, max_length)[:, 0]
                  for who, (model, tokenizer) in models.items()}
        r = lambda a, b: float(np.corrcoef(a, b)[0, 1])  # noqa: E731
        result[split] = {"teacher_vs_gold": r(scores["teacher"], labels), "student_vs_gold": r(scores["student"], labels),
                         "student_vs_teacher": r(scores["student"], scores["teacher"])}
    write_json(os.path.join(out_dir, "fit", f"{name}_{cand}__{teacher_from}.json"), result)
    print(json.dumps(result), flush=True)
    return result


def run_teacher_candidate(name: str, cand: str, info: dict, smoke: bool, out_dir: str) -> None:
    """`train-teacher` from the PyPI MiniLM at the candidate's learning rate, >= 1 epoch and >= 2,000 steps."""
    path = os.path.join(out_dir, f"{name}_{cand}.json")
    if os.path.isfile(path):
        print(f"skip {path} (exists)", flush=True)
        return
    out = os.path.join(WORK, name, cand)
    steps = 20 if smoke else max(steps_per_epoch(len(info["rows"]["train"])), 2000)
    cmd = python_cmd("train-teacher", *data_options(info), "--max_length", str(MAX_LENGTH[name]),
                     "--pretrained_model", "pypi:all-MiniLM-L6-v2", "--teacher_learning_rate",
                     str(TEACHER_CANDIDATES[cand]), "--max_steps", str(steps), "--per_device_train_batch_size", str(BATCH),
                     "--train_sampling_strategy", "group_by_length", "--bf16", TEACHER_BF16.get(cand, "auto"),
                     "--save_strategy", "no", "--report_to", "none", "--use_cpu", "true", "--seed", "42",
                     "--logging_steps", "100", "--output_dir", out)
    seconds = run(cmd, os.path.join(out, "train_teacher.log"))
    result = {"task": name, "teacher_candidate": cand, "teacher_learning_rate": TEACHER_CANDIDATES[cand],
              "steps": steps, "train_rows": len(info["rows"]["train"]), "wall_s": seconds,
              "heldout": score(os.path.join(out, "teacher"), info, MAX_LENGTH[name])}
    write_json(path, result)
    print(json.dumps(result), flush=True)


def summarise(out_dir: str) -> None:
    rows = []
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        with open(path) as f:
            rows.append(json.load(f))
    teachers = {r["task"]: r for r in rows if "candidate" not in r and "teacher_candidate" not in r}
    teacher_cands = [r for r in rows if "teacher_candidate" in r]
    by_teacher_cand = {(r["task"], r["teacher_candidate"]): r for r in teacher_cands}
    cands = [r for r in rows if "candidate" in r]
    lines = ["# Recipe rules: candidates on held-out training rows (3-layer student)", "",
             "Teacher: the task's (3 epochs at 5e-5), or the teacher candidate named beside the candidate.", "",
             "| task | candidate | steps | aug copies / unlabelled rows | held-out metric | teacher | retention | wall (s) |",
             "|---|---|---|---|---|---|---|---|"]
    order = list(CANDIDATES)
    for r in sorted(cands, key=lambda r: (r["task"], r.get("teacher_from") or "",
                                          order.index(r["candidate"]) if r["candidate"] in order else 99)):
        metric = "pearsonr" if "pearsonr" in r["heldout"] else "accuracy"
        source = by_teacher_cand.get((r["task"], r.get("teacher_from"))) or teachers.get(r["task"], {})
        teacher = source.get("heldout", {}).get(metric)
        value = r["heldout"][metric]
        label = f"{r['candidate']} (teacher {r['teacher_from']})" if r.get("teacher_from") else r["candidate"]
        extra = f"{r['augment_copies']}" + (f" / {r['unlabeled_rows']:,}" if r.get("unlabeled_rows") else "")
        lines.append(f"| {r['task']} | {label} | {r['steps']} | {extra} | {metric} {value:.4f} | "
                     f"{teacher:.4f} | {value / teacher:.3f} | {r['wall_s']:.0f} |" if teacher else
                     f"| {r['task']} | {label} | {r['steps']} | {extra} | {metric} {value:.4f} | "
                     f"- | - | {r['wall_s']:.0f} |")
    if teacher_cands:
        lines += ["", "## The teacher's learning rate (`train-teacher` from the PyPI MiniLM, >= 1 epoch and >= 2,000 steps)",
                  "", "| task | teacher learning rate | steps | held-out metric | wall (s) |", "|---|---|---|---|---|"]
        for r in sorted(teacher_cands, key=lambda r: (r["task"], r["teacher_learning_rate"])):
            metric = "pearsonr" if "pearsonr" in r["heldout"] else "accuracy"
            fp32 = " (fp32)" if TEACHER_BF16.get(r["teacher_candidate"]) == "false" else ""
            lines.append(f"| {r['task']} | {r['teacher_learning_rate']:g}{fp32} | {r['steps']} | {metric} "
                         f"{r['heldout'][metric]:.4f} | {r['wall_s']:.0f} |")
    with open(os.path.join(os.path.dirname(out_dir), "recipe_rules.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="stsb,banking77,sst2_small")
    parser.add_argument("--candidates", default=",".join(CANDIDATES),
                        help=f"student candidates ({', '.join(CANDIDATES)}) and/or teacher ones "
                             f"({', '.join(TEACHER_CANDIDATES)})")
    parser.add_argument("--teacher_from", default=None, choices=list(TEACHER_CANDIDATES),
                        help="distil from this teacher candidate's teacher (run it first) instead of the task's "
                             "3-epoch 5e-5 teacher")
    parser.add_argument("--fit", default=None, help="regression candidates (comma-separated) already run from "
                        "--teacher_from: Pearson of student and teacher scores on training and held-out rows")
    parser.add_argument("--summarise", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="256 rows, 30 steps, results in /tmp")
    args = parser.parse_args()
    global WORK
    out_dir = OUT_DIR
    if args.smoke:
        WORK, out_dir = "/tmp/recipe_rules_smoke/work", "/tmp/recipe_rules_smoke/results"
    if args.fit:
        for name in args.tasks.split(","):
            info = prepare_task(name, args.smoke)
            for cand in args.fit.split(","):
                fit(name, cand, info, args.teacher_from, out_dir)
        return
    if not args.summarise:
        for name in args.tasks.split(","):
            info = prepare_task(name, args.smoke)
            wanted = args.candidates.split(",")
            for cand in [c for c in wanted if c in TEACHER_CANDIDATES]:
                run_teacher_candidate(name, cand, info, args.smoke, out_dir)
            students = [c for c in wanted if c not in TEACHER_CANDIDATES]
            if students and args.teacher_from:
                teacher = os.path.join(WORK, name, args.teacher_from, "teacher")
                if not os.path.isfile(os.path.join(teacher, "model.safetensors")):
                    raise SystemExit(f"--teacher_from {args.teacher_from}: no teacher in {teacher}; add "
                                     f"{args.teacher_from} to --candidates to train it first.")
            elif students:
                teacher, record = ensure_teacher(name, info, args.smoke, out_dir)
                print(f"{name}: teacher {record['heldout']}", flush=True)
            for cand in students:
                run_candidate(name, cand, info, teacher, args.smoke, out_dir, args.teacher_from)
    summarise(out_dir)


if __name__ == "__main__":
    main()
