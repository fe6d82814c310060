"""The course's data: CIFAR-10, the HandsDataset gestures, and two ways to feed them.

One module each, read top to bottom:

- :mod:`~resnet_course.data.paths`: where data and caches live (:func:`data_root`, :func:`cache_root`).
- :mod:`~resnet_course.data.imageset`: :class:`ImageSet`, a whole split as one ``uint8`` tensor.
- :mod:`~resnet_course.data.safety`: SHA-256 checks, downloads, archive extraction that never
  writes outside its folder.
- :mod:`~resnet_course.data.cache`: decode once, keep the tensors, validated by the files' content.
- :mod:`~resnet_course.data.cifar10`: CIFAR-10 (Krizhevsky 2009), official batches or JPEG copy.
- :mod:`~resnet_course.data.hands`: the HandsDataset (SubhiH), one square crop per labelled hand.
- :mod:`~resnet_course.data.splits`: session-disjoint splits of the gestures (no leakage).
- :mod:`~resnet_course.data.loaders`: :class:`TensorLoader` (airbench style, batches made on the
  device) and :func:`torchvision_loader` (the conventional ``DataLoader``).
- :mod:`~resnet_course.data.registry`: :func:`load_dataset` by name, and the normalisation.

A call such as ``load_dataset("cifar10", "train")`` reads: ``load_cifar10`` → find the copy
(official batches if intact, else the JPEG tree, checked for all ten classes) →
``cached_image_set`` (content fingerprint, cache hit or decode) → :class:`ImageSet`.
"""

from resnet_course.data.cache import (
    CACHE_FORMAT,
    IMAGE_SUFFIXES,
    CorruptImageError,
    cache_key,
    cached_image_set,
    content_fingerprint,
    decode_into,
    load_cache,
    open_rgb,
    parallel,
    save_cache,
)
from resnet_course.data.cifar10 import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_URL,
    cifar10_jpeg_files,
    download_cifar10,
    load_cifar10,
    official_batches_problem,
)
from resnet_course.data.hands import (
    HANDS_CLASSES,
    HANDS_COLUMNS,
    HANDS_COMMIT,
    HANDS_SHA256,
    HANDS_URLS,
    LabelFileError,
    download_hands,
    hand_crop_box,
    load_hands,
    read_hands_csv,
)
from resnet_course.data.imageset import (
    SPLITS,
    ImageSet,
    check_split,
)
from resnet_course.data.loaders import (
    PILImageDataset,
    TensorLoader,
    torchvision_loader,
)
from resnet_course.data.paths import (
    DataNotFoundError,
    cache_root,
    data_root,
    writable_dir,
)
from resnet_course.data.registry import (
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_dataset,
    normalisation_for,
)
from resnet_course.data.safety import (
    ChecksumError,
    UnsafeArchiveError,
    download_file,
    safe_extract,
    sha256_file,
    verify_sha256,
)
from resnet_course.data.splits import (
    EXHAUSTIVE_UP_TO,
    SessionSplit,
    group_by_session,
    session_of,
    session_split,
    shared_sessions,
    split_by_session,
)

__all__ = [
    "CACHE_FORMAT",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CIFAR10_URL",
    "DATASETS",
    "EXHAUSTIVE_UP_TO",
    "HANDS_CLASSES",
    "HANDS_COLUMNS",
    "HANDS_COMMIT",
    "HANDS_SHA256",
    "HANDS_URLS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_SUFFIXES",
    "SPLITS",
    "ChecksumError",
    "CorruptImageError",
    "DataNotFoundError",
    "ImageSet",
    "LabelFileError",
    "PILImageDataset",
    "SessionSplit",
    "TensorLoader",
    "UnsafeArchiveError",
    "cache_key",
    "cache_root",
    "cached_image_set",
    "check_split",
    "cifar10_jpeg_files",
    "content_fingerprint",
    "data_root",
    "decode_into",
    "download_cifar10",
    "download_file",
    "download_hands",
    "group_by_session",
    "hand_crop_box",
    "load_cache",
    "load_cifar10",
    "load_dataset",
    "load_hands",
    "normalisation_for",
    "official_batches_problem",
    "open_rgb",
    "parallel",
    "read_hands_csv",
    "safe_extract",
    "save_cache",
    "session_of",
    "session_split",
    "sha256_file",
    "shared_sessions",
    "split_by_session",
    "torchvision_loader",
    "verify_sha256",
    "writable_dir",
]
