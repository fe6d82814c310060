"""The course's data: CIFAR-10, the HandsDataset gestures, and two ways to feed them.

What is here, top to bottom:

1. Where data and caches live (:func:`data_root`, :func:`cache_root`).
2. :class:`ImageSet` -- a whole split as one ``uint8`` tensor plus labels and class names.
3. :func:`load_cifar10` -- the official python batches through torchvision, or the
   ``cifar10-jpg/<split>/<class>/*.jpg`` folder layout, decoded once and cached.
4. :func:`load_hands` -- the HandsDataset (SubhiH/HandsDataset on GitHub), one square crop
   per labelled box, with a verified download and a safe archive extractor.
5. :class:`TensorLoader` -- the fast path in the style of airbench (Keller Jordan,
   https://github.com/KellerJordan/cifar10-airbench): the split lives on the training
   device and each batch is cropped, flipped and normalised there as a few tensor ops.
6. :func:`torchvision_loader` -- the conventional path (PIL image, ``RandomCrop``,
   ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``, one image at a time), kept so
   the book can measure what the fast path saves.
7. :func:`show_samples` -- a grid of images with their class names.

The augmentation is the one of He et al., "Deep Residual Learning for Image
Recognition" (CVPR 2016), Sec. 4.2: "4 pixels are padded on each side, and a 32x32 crop
is randomly sampled from the padded image or its horizontal flip".
"""

from resnet_course.data.paths import (  # noqa: F401
    cache_root,
    data_root,
    DataNotFoundError,
    writable_dir,
)
from resnet_course.data.imageset import (  # noqa: F401
    check_split,
    ImageSet,
    SPLITS,
)
from resnet_course.data.cache import (  # noqa: F401
    CACHE_FORMAT,
    CorruptImageError,
    decode_into,
    fingerprint,
    image_set_from_blob,
    IMAGE_SUFFIXES,
    load_cache,
    open_rgb,
    parallel,
    save_cache,
)
from resnet_course.data.safety import (  # noqa: F401
    ChecksumError,
    download_file,
    safe_extract,
    sha256_file,
    UnsafeArchiveError,
    verify_sha256,
)
from resnet_course.data.cifar10 import (  # noqa: F401
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    CIFAR10_URL,
    download_cifar10,
    load_cifar10,
)
from resnet_course.data.hands import (  # noqa: F401
    download_hands,
    hand_crop_box,
    HANDS_CLASSES,
    HANDS_COMMIT,
    HANDS_SHA256,
    HANDS_URLS,
    load_hands,
)
from resnet_course.data.loaders import (  # noqa: F401
    PILImageDataset,
    TensorLoader,
    torchvision_loader,
)
from resnet_course.data.registry import (  # noqa: F401
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    load_dataset,
    normalisation_for,
)

__all__ = ["CACHE_FORMAT", "cache_root", "check_split", "ChecksumError", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "CIFAR10_URL", "CorruptImageError", "data_root", "DataNotFoundError", "DATASETS", "decode_into", "download_cifar10", "download_file", "download_hands", "fingerprint", "hand_crop_box", "HANDS_CLASSES", "HANDS_COMMIT", "HANDS_SHA256", "HANDS_URLS", "image_set_from_blob", "IMAGE_SUFFIXES", "IMAGENET_MEAN", "IMAGENET_STD", "ImageSet", "load_cache", "load_cifar10", "load_dataset", "load_hands", "normalisation_for", "open_rgb", "parallel", "PILImageDataset", "safe_extract", "save_cache", "sha256_file", "SPLITS", "TensorLoader", "torchvision_loader", "UnsafeArchiveError", "verify_sha256", "writable_dir"]
