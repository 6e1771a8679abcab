"""Learned compression: codecs trained for rate and distortion, written to ``.aez`` files.

    from aekit.compression import compress, decompress
    summary = compress("photo.png", "photo.aez", quality=2)      # the shipped pretrained image codec
    decompress("photo.aez", "photo_decoded.png")
"""
