"""Export: a trained checkpoint to deployable engines, each checked against the original.

- :mod:`.onnx_export` FP32 ONNX (dynamic batch and time) with PyTorch parity, and FP16;
- :mod:`.quantize` INT8 static quantization (QDQ) calibrated on real windows, with the accuracy gate;
- :mod:`.tensorrt` builds TensorRT engines (where TensorRT exists); :mod:`.pt2` compiles AOTInductor packages
  (what runs them is the runtime's: :mod:`ecgedge.runtime.trt`, :mod:`ecgedge.runtime.pt2`);
- :mod:`.pipeline` ``ecgedge export``: profiles, the whole run, the report.
"""
