"""SageMaker's own container image for a framework source (`model.framework` in a manifest).

One lookup for every caller that runs a framework model (deploys, batch-transform
comparisons): the sagemaker SDK's image tables (`sagemaker.core.image_uris`), read offline.
The SDK is an optional extra; without it, or for a framework, version, Python version or
region it does not know, the lookup raises ValueError with a message a person can act on.
"""

from __future__ import annotations


def framework_image(name: str, version: str, py_version: str | None, region: str,
                    instance_type: str | None) -> str:
    """The inference image URI of framework `name` `version` in `region` for `instance_type`."""
    what = f"{name} {version}" + (f" ({py_version})" if py_version else "")
    try:
        from sagemaker.core import image_uris
    except ImportError:
        raise ValueError(f"the {what} framework image cannot be looked up: framework images need the "
                         "sagemaker SDK (install modelbot[sagemaker])") from None
    try:
        return image_uris.retrieve(name, region, version=version, py_version=py_version,
                                   instance_type=instance_type, image_scope="inference")
    except FileNotFoundError:  # the SDK has no image table for this name
        raise ValueError(f"no SageMaker image for framework {name!r} (version {version}): the sagemaker SDK "
                         "does not know this framework (names as SageMaker spells them: xgboost, sklearn, "
                         "pytorch, tensorflow, huggingface, ...)") from None
    except (ValueError, KeyError, TypeError) as exc:  # unsupported version, py_version, region, instance
        raise ValueError(f"no SageMaker image for framework {what} in {region}"
                         + (f" on {instance_type}" if instance_type else "") + f": {exc}") from None
