"""Readers that turn each real FER dataset layout into one stream of `FaceSample`s."""

from ferkit.datasets.base import FaceSample
from ferkit.datasets.ckplus import read_ckplus, read_ckplus48, read_ckplus_original
from ferkit.datasets.fer2013 import read_fer2013_csv, read_fer2013_folders
from ferkit.datasets.ferplus import majority_label, read_ferplus, soft_label
from ferkit.datasets.folder import read_folder
from ferkit.datasets.jaffe import read_jaffe
from ferkit.datasets.sources import detect_kind, read_source

__all__ = [
    "FaceSample", "detect_kind", "majority_label", "read_ckplus", "read_ckplus48",
    "read_ckplus_original", "read_fer2013_csv", "read_fer2013_folders", "read_ferplus",
    "read_folder", "read_jaffe", "read_source", "soft_label",
]
