"""hf_distill: knowledge distillation for Hugging Face Transformers encoders."""

from .cache import TeacherCache, build_teacher_cache
from .config import DistillationConfig
from .data import DataArguments, load_task_data, tokenize_split
from .layer_map import parse_layer_map, uniform_layer_map
from .student import default_student_layers, student_from_config, student_from_teacher
from .teacher import load_teacher
from .trainer import DistillationTrainer

__version__ = "0.1.0"

__all__ = [
    "TeacherCache",
    "build_teacher_cache",
    "DataArguments",
    "DistillationConfig",
    "DistillationTrainer",
    "default_student_layers",
    "load_task_data",
    "load_teacher",
    "parse_layer_map",
    "student_from_config",
    "student_from_teacher",
    "tokenize_split",
    "uniform_layer_map",
]
