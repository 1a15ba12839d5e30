"""Export: a trained checkpoint to deployable engines, each checked against the original.

- :mod:`.onnx_export` FP32 ONNX (dynamic batch and time) with PyTorch parity, and FP16;
- :mod:`.quantize` INT8 static quantization (QDQ) calibrated on real windows, with the accuracy gate;
- :mod:`.tensorrt` TensorRT engines (where TensorRT exists); :mod:`.pt2` AOTInductor packages;
- :mod:`.pipeline` ``ecgedge export``: profiles, the whole run, the report.
"""
