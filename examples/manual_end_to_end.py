"""
TPU End-To-End Test

This file describes in full the process of TPU usage: from the original model
(*.onnx file) to the inference on a given TPU device using ResNet-50 network
as an example. File describes input model definition, quantization,
compilation and execution on TPU in one sweep.

External prerequisites:
* Original model (*.onnx file) with known input and output names
* Portion of ImageNet dataset files (*.JPEG files)
* Single demo image with a known class ("ground truth", .JPEG file)

Built-in prerequisites:
* Predefined pre- and post- processing functions.
"""

# The reference manual's chapter 5 program, run as written there on this project's assets. What differs from the
# manual (nothing else does):
# * the model: MobileNetV2 trained on ImageNet (tpu_framework.assets.mobilenet_v2), input `input`, output `logits`;
# * the data: real photos bundled with installed packages (tpu_framework.assets.photos) written as *.JPEG files
#   into a temporary directory; the demo image is `camera` (tripod), CALIBRATION_PHOTOS are the calibration and
#   fine-tuning images; `OFFSET` and `DEMO_IMAGE_EXPECTED_CLASS` are those of this model (0-based torchvision
#   class ids, hence OFFSET = 1 for the manual's 1-based `postprocess`);
# * `model_execute` comes from `tpu_framework` (the manual imports it from an internal test module);
# * THRESHOLDS_PATH (qt and qtf) is written by a calibration run and `RegularModel.dump_thresholds` when missing
#   (`_dump_calibration_thresholds`), where the manual ships a resources file;
# * `_tensorflow_inference` imports the graph with `name=''` (the manual's call would prefix every name with
#   `import/`, so the fetched tensor names would not exist);
# * the fine-tuning sample count and epochs (50 and 10) and THRESHOLDS_PATH can be overridden by the environment
#   variables TPU_E2E_FINE_TUNING_SAMPLES, TPU_E2E_FINE_TUNING_EPOCHS and TPU_E2E_THRESHOLDS_PATH (the tests use
#   a few samples and one epoch); fine-tuning logs go to the temporary directory instead of `./training`.
#
#   python examples/manual_end_to_end.py --enable-tlm --enable-tpu --enable-raw --quantize-method qcf
# ruff: noqa: I001, RUF059, UP006, UP035, UP045, SIM117  (the manual's imports, typing names, unused `renaming`, nested `with`)
import argparse
import atexit
import glob
import os
import shutil
import tempfile
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Tuple

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import pytpu as tpu
import tensorflow as tf
from PIL import Image

from tpu_framework import DEFAULT
from tpu_framework import Network
from tpu_framework import QuantizedModel
from tpu_framework import RegularModel
from tpu_framework import TPU_128x128_PARAMS
from tpu_framework import TpuProgram
from tpu_framework import compiler
from tpu_framework import onnx_to_tf
from tpu_framework.assets import photos
from tpu_framework.assets.mobilenet_v2 import mobilenet_v2_path

AnyArray = npt.NDArray[Any]

OFFSET = 1
"""Class offset of the model: its outputs are 0-based ImageNet class ids, the manual's labels are 1-based"""

GRAPH_PATH = str(mobilenet_v2_path())
GRAPH_NAME_FOR_SAVING = "mobilenet_v2.pb"

"""Original model - input ONNX *.onnx file: MobileNetV2 with torchvision's ImageNet weights, exported to ONNX
(opset 13, batch 1) by `python -m tpu_framework.assets fetch` and cached under ~/.cache/tpu_framework/.
"""

_WORK_DIR = tempfile.mkdtemp(prefix="tpu_end_to_end_")
atexit.register(shutil.rmtree, _WORK_DIR, ignore_errors=True)

DEMO_PHOTO = "camera"
"""The demo photo: scikit-image's `camera.png`, a cameraman behind his camera on a tripod"""

CALIBRATION_PHOTOS = ["chelsea", "coffee", "motorcycle_left", "china", "dog", "eagle", "giraffe"]
"""Photos the float model puts in an ImageNet class with a probability above 0.5, as the manual's ImageNet images
are (the last three are Debian's darknet photos, used where installed). Calibrated on two of them (the manual's
`glob` takes them in directory order), the integer model predicts the demo image's class whichever two they are;
two photos of no ImageNet class (e.g. `astronaut` and `rocket`) give ranges too narrow for its logits."""


def _write_photos_as_jpeg(directory: str, names: List[str]) -> str:
    """Write real photos as *.JPEG files, the form the manual reads its ImageNet images in."""
    os.makedirs(directory, exist_ok=True)
    for name in names:
        photos.photo(name).save(os.path.join(directory, f"{name}.JPEG"), quality=95)
    return directory


IMAGENET_IMAGES_BASE_PATH = _write_photos_as_jpeg(
    os.path.join(_WORK_DIR, "images"),
    photos.available_photos(CALIBRATION_PHOTOS),
)
"""Path to dataset images: the calibration photos as *.JPEG files"""

DEMO_IMAGE_FILE_NAME = os.path.join(
    _write_photos_as_jpeg(os.path.join(_WORK_DIR, "demo"), [DEMO_PHOTO]), f"{DEMO_PHOTO}.JPEG"
)
"""Path to the demo input image with a known (expected) class"""

DEMO_IMAGE_EXPECTED_CLASS = 873
"""Expected label of the demo image: tripod, class id 872 (photos.imagenet_classes()) + OFFSET"""

"""BATCH SIZE"""
_BATCH = 1

"""RGB image has 3 channels"""
_CHANNELS = 3

CALIBRATION_IMAGES = os.path.join(IMAGENET_IMAGES_BASE_PATH, "*.JPEG")
"""Path to read images used for calibration"""

INPUT_TENSOR_NAME = "input"
"""Name of the input tensor name for the original model"""

OUTPUT_TENSOR_NAME = "logits"
"""Name of the output tensor name of the original model"""
"""
Name of the input or output tensor for the original model,
In case of ONNX model this is a tensor id such as my_input or my_output,
In case of TF model this is a tensor name such as
my_input_placeholder:0 or my_output_tensor:0
(note that this is NOT op name but tensor name, thus :0 suffix).
"""

_PREPROCESSING_HW = (224, 224)
"""Input size for preprocessing"""

THRESHOLDS_PATH = os.environ.get("TPU_E2E_THRESHOLDS_PATH") or os.path.join(_WORK_DIR, "mobilenet_v2_thresholds.json")

FINE_TUNING_SAMPLES = int(os.environ.get("TPU_E2E_FINE_TUNING_SAMPLES", "50"))
FINE_TUNING_EPOCHS = int(os.environ.get("TPU_E2E_FINE_TUNING_EPOCHS", "10"))
"""Fine-tuning sample count and epochs (the manual's 50 and 10 unless the environment says otherwise)"""


def crop_and_resize(image: Image.Image, hw: Tuple[int, int]) -> Image.Image:
    """Crop center from image and resize it to another shape."""
    return _central_crop(image, 0.85).resize(size=hw)


def _central_crop(image: Image.Image, percent: float = 1.0) -> Image.Image:
    """Crop center from image."""
    width, height = image.size
    min_dim = int(min(height, width) * percent)
    crop_top = (height - min_dim) // 2
    crop_left = (width - min_dim) // 2
    return image.crop((crop_left, crop_top, crop_left + min_dim, crop_top + min_dim))


def div_255_sub_mean_div_std(tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    mean: npt.NDArray[np.float32] = np.array([0.485, 0.456, 0.406], dtype=np.float32)
    std: npt.NDArray[np.float32] = np.array([0.229, 0.224, 0.225], dtype=np.float32)
    tensor = (tensor / 255.0 - mean) / std
    return tensor


def preprocess(image: Image.Image) -> npt.NDArray[np.float32]:
    """Preprocessing function to convert input image to input tensor.
    Supplied by the user alongside with the original model."""
    image = crop_and_resize(image.convert("RGB"), _PREPROCESSING_HW)
    arr = div_255_sub_mean_div_std(np.asarray(image))
    arr = np.transpose(arr, (2, 0, 1)).astype(np.float32)
    return np.array([arr]).astype(np.float32)


def postprocess(tensor: npt.NDArray[np.float32]) -> npt.NDArray[np.int32]:
    """Postprocessing function to convert output tensor to an interpretable
    entity (in this example to an index of a most probable class). Supplied
    by the user alongside with the original model."""
    # TODO: consider returning all 1000 classes sorted

    # get index of the max
    max_index = np.array([np.argmax(tensor)], dtype=np.int32)
    return max_index + 1


def _tensorflow_inference(graph_def: tf.compat.v1.GraphDef, *args: Any, **kwargs: Any) -> npt.NDArray[Any]:
    """Helper function for a single run of a TensorFlow session with a given
    graph_def; other args and kwargs are passed through."""

    # Transform original model graph from GraphDef to tf.Graph
    graph = tf.graph_util.import_graph_def(graph_def, name="")

    with tf.compat.v1.Session(graph=graph) as sess:
        result: npt.NDArray[Any] = sess.run(*args, **kwargs)
    return result


def _onnx_inference(
    onnx_graph: onnx.ModelProto, test_input_dict: Dict[str, npt.NDArray[np.float32]]
) -> Dict[str, npt.NDArray[Any]]:
    """Helper function for a single run of ONNX session with a given ModelProto
    instance."""

    # Create onnxruntime session
    session = ort.InferenceSession(
        path_or_bytes=onnx_graph.SerializeToString(), providers=["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    return {OUTPUT_TENSOR_NAME: session.run([OUTPUT_TENSOR_NAME], input_feed=test_input_dict)[0]}


def _read_original_onnx_model() -> onnx.ModelProto:
    """Load original onnx model graph from a predefined location."""
    serialized_graph = onnx.load(GRAPH_PATH)

    return serialized_graph


def _convert_onnx_to_tf_graphdef(onnx_graph: onnx.ModelProto) -> Tuple[tf.compat.v1.GraphDef, Dict[str, str]]:
    """Convert original onnx model to tensorflow GraphDef."""
    tf_graph, onnx_tensor_id_to_tf_tensor_name = onnx_to_tf(onnx_graph, None, try_simplify=True)

    original_graph_def = tf_graph.as_graph_def()

    return original_graph_def, onnx_tensor_id_to_tf_tensor_name


def _load_test_input_tensor_dict() -> Dict[str, npt.NDArray[np.float32]]:
    """Load a dictionary of input data (key is the name of model input and the
    value is an input tensor)."""

    # Load test image:
    with Image.open(DEMO_IMAGE_FILE_NAME) as demo_image:
        # NOTE: input image is PIL image `demo_image` but the input **tensor**
        # is pre-processed input image:
        return {INPUT_TENSOR_NAME: preprocess(demo_image)}


def _load_test_samples_for_calibration_or_finetune(number_of_samples: int) -> Dict[str, npt.NDArray[np.float32]]:
    """Load tensors used to calibrate network during quantization procedure."""

    # Prepare calibration tensors:
    calibration_tensor_list = []

    calibration_images = glob.glob(CALIBRATION_IMAGES)[:number_of_samples]

    # Convert calibration images to a calibration tensor:
    for image_path in calibration_images:
        with Image.open(image_path) as image:
            tensor = preprocess(image)
            calibration_tensor_list.append(tensor)

    # Each element of calibration_tensor_list is of shape NHWC,
    # concat with batch axis = 0:
    calib_tensor = np.concatenate(
        calibration_tensor_list,
        axis=0,
        dtype=np.float32,
    )

    return {INPUT_TENSOR_NAME: calib_tensor}


def _test_original_onnx_model(
    onnx_graph: onnx.ModelProto,
    test_input_dict: Dict[str, npt.NDArray[np.float32]],
) -> None:
    """Check original ONNX model behaviour with a test run using onnxruntime"""

    # Check inference with the original model:
    original_graph_output_dict = _onnx_inference(onnx_graph=onnx_graph, test_input_dict=test_input_dict)

    # Check that the original model behaves as expected:
    _assert_output_dictionary(original_graph_output_dict, "Original ONNX model ")


def _test_converted_tf_model(
    converted_model_graph_def: tf.compat.v1.GraphDef,
    test_input_dict: Dict[str, npt.NDArray[np.float32]],
    onnx_tensor_id_to_tf_tensor_name: Dict[str, str],
) -> None:
    """Check original model behaviour with a test run using tensorflow."""

    renamed_input_dict = {onnx_tensor_id_to_tf_tensor_name[key]: value for key, value in test_input_dict.items()}
    # Check inference with the original model:
    converted_graph_output_tensors = _tensorflow_inference(
        graph_def=converted_model_graph_def,
        feed_dict=renamed_input_dict,
        fetches=onnx_tensor_id_to_tf_tensor_name[OUTPUT_TENSOR_NAME],
    )

    # For convenience al inputs and outputs are stored as dictionaries
    # (key is the name of the tensor):
    original_graph_output_dict = {OUTPUT_TENSOR_NAME: converted_graph_output_tensors}

    # Check that the original model behaves as expected:
    _assert_output_dictionary(original_graph_output_dict, "Converted model ")


def _test_quantized_model(
    quantized_model: QuantizedModel,
    test_input_dict: Dict[str, npt.NDArray[np.float32]],
    onnx_tensor_id_to_tf_tensor_name: Dict[str, str],
    cache_word_length: int,
) -> None:
    """Check quantized model behaviour with a test run using tensorflow."""

    renamed_input_dict = {onnx_tensor_id_to_tf_tensor_name[key]: value for key, value in test_input_dict.items()}

    # Quantized model stores information internally in custom format;
    # obtain reference TensorFlow implementation:
    quantized_model_graph_def = quantized_model.as_graph(
        # NOTE: quantized model is batch-sensitive
        # (multiple images can be fed to the input of the model)
        batch_size=1,
        # NOTE: quantized model is CWL-sensitive
        cache_word_length=cache_word_length,
    ).as_graph_def()

    # Input quantization is the multiplication of the input data by the
    # quantization scaling factor, and then casting to the desired data type
    input_dict = quantized_model.rescale(renamed_input_dict)

    # Perform test run using tensorflow:
    output_tensor = _tensorflow_inference(
        graph_def=quantized_model_graph_def,
        feed_dict=input_dict,
        fetches=onnx_tensor_id_to_tf_tensor_name[OUTPUT_TENSOR_NAME],
    )

    # Output de-quantization is the multiplication of the input data by the
    # quantization scaling factor, and then casting to float32
    output_tensor = quantized_model.rescale({onnx_tensor_id_to_tf_tensor_name[OUTPUT_TENSOR_NAME]: output_tensor})

    original_output_tensor = {OUTPUT_TENSOR_NAME: output_tensor[onnx_tensor_id_to_tf_tensor_name[OUTPUT_TENSOR_NAME]]}

    # Check that quantized model behaves as expected:
    _assert_output_dictionary(original_output_tensor, "Quantized model ")


def _test_tlm_program(tlm_program: Any, test_input_dict: Dict[str, npt.NDArray[np.float32]]) -> None:
    """This is an internal debug function run inference procedure using TLM.
    # ========================================================================#
    # NOTE: TLM disclaimer: Testing on a TLM model is an internal debug tool.
    # TLM packages are not distributed in production and are unavailable to the
    # public. Presence of TLM testing in this file guarantees internal
    # consistency of test system and must be ignored by any external users
    # unless explicitly mentioned by developers.
    # ========================================================================#
    """

    from tpu_framework import model_execute

    executable, tensor_descriptions = tlm_program

    # Replace tensor names with op names:
    test_input_dict_with_op_names = {tensor_name: tensor_value for tensor_name, tensor_value in test_input_dict.items()}

    # Execute on TLM:
    tlm_result = model_execute(
        executable=executable,
        tensor_descriptions=tensor_descriptions,
        input_data=test_input_dict_with_op_names,
    )

    print("TLM estimates execution time: ", tlm_result.execution_time_us, "us")

    _assert_output_dictionary(tlm_result.output_data, "TLM")


def _assert_output_dictionary(output_dict: Dict[str, npt.NDArray[np.float32]], executor_name: str) -> None:
    """Examine given dictionary and check that it is a valid model output
    (correct class is predicted)."""

    # Get most probable class (prediction):
    most_probable_class = postprocess(output_dict[OUTPUT_TENSOR_NAME])

    # Log results:
    print(f"{executor_name} reports most probable class estimate: {most_probable_class}")

    # Print some more debug information about executor's output to emphasize
    # possible differences between outputs of various executors:
    argsort_top = np.flip(np.argsort(output_dict[OUTPUT_TENSOR_NAME][0]))[:16] + OFFSET
    print(f"{executor_name} TOP-16 argsort output is: {argsort_top}")

    # Assert valid prediction
    if most_probable_class != DEMO_IMAGE_EXPECTED_CLASS:
        raise AssertionError(
            f'Executor "{executor_name}" predicted wrong class '
            f"{most_probable_class}"
            f" (expected class is {DEMO_IMAGE_EXPECTED_CLASS})"
        )


# NOTE: How to quantize original model
# There are 4 ways:
# 1. With calibration


def quantization_with_calib(
    graph_def: tf.compat.v1.GraphDef,
    input_shapes: Dict[str, Tuple[int, ...]],
    output_nodes: List[str],
    anchors_mapping: Dict[str, str],
) -> QuantizedModel:
    # Get calibration tensors:
    calibration_dict = _load_test_samples_for_calibration_or_finetune(number_of_samples=2)
    calibration_dict_with_mapping = {anchors_mapping[k]: v for k, v in calibration_dict.items()}

    regular_model = RegularModel(
        original_graph_def=graph_def,
        input_shapes=input_shapes,
        output_nodes=output_nodes,
        anchors_mapping=anchors_mapping,
    )

    thresholds = regular_model.calibrate(calibration_dict_with_mapping)

    quantized_model = regular_model.quantize(thresholds)

    return quantized_model


# # 2. With early prepared thresholds (from previous fine_tuning stage)


def quantization_with_thresholds(
    graph_def: tf.compat.v1.GraphDef,
    input_shapes: Dict[str, Tuple[int, ...]],
    output_nodes: List[str],
    anchors_mapping: Dict[str, str],
) -> QuantizedModel:
    thresholds = RegularModel.load_thresholds(THRESHOLDS_PATH)

    regular_model = RegularModel(
        original_graph_def=graph_def,
        input_shapes=input_shapes,
        output_nodes=output_nodes,
        anchors_mapping=anchors_mapping,
    )
    quantized_model = regular_model.quantize(thresholds)

    return quantized_model


# # 3. With early prepared thresholds and new fine_tuning stage


def quantization_with_thresholds_and_finetune(
    graph_def: tf.compat.v1.GraphDef,
    input_shapes: Dict[str, Tuple[int, ...]],
    output_nodes: List[str],
    anchors_mapping: Dict[str, str],
) -> QuantizedModel:
    thresholds = RegularModel.load_thresholds(THRESHOLDS_PATH)
    fine_tuning_dict = _load_test_samples_for_calibration_or_finetune(number_of_samples=FINE_TUNING_SAMPLES)
    fine_tuning_dict_with_mapping = {anchors_mapping[k]: v for k, v in fine_tuning_dict.items()}

    regular_model = RegularModel(
        original_graph_def=graph_def,
        input_shapes=input_shapes,
        output_nodes=output_nodes,
        anchors_mapping=anchors_mapping,
    )
    new_thresholds = regular_model.fine_tune(
        thresholds=thresholds,
        fine_tuning_epochs=FINE_TUNING_EPOCHS,
        fine_tuning_data=fine_tuning_dict_with_mapping,
        working_dir=os.path.join(_WORK_DIR, "training"),
    )
    quantized_model = regular_model.quantize(new_thresholds)

    return quantized_model


# # 4. With calibration and new fine_tuning stage


def quantization_with_calib_and_finetune(
    graph_def: tf.compat.v1.GraphDef,
    input_shapes: Dict[str, Tuple[int, ...]],
    output_nodes: List[str],
    anchors_mapping: Dict[str, str],
) -> QuantizedModel:
    # Get fine_tuning tensors:
    fine_tuning_dict = _load_test_samples_for_calibration_or_finetune(number_of_samples=FINE_TUNING_SAMPLES)
    fine_tuning_dict_with_mapping = {anchors_mapping[k]: v for k, v in fine_tuning_dict.items()}

    # Get calibration tensors:
    calibration_dict = _load_test_samples_for_calibration_or_finetune(number_of_samples=2)
    calibration_dict_with_mapping = {anchors_mapping[k]: v for k, v in calibration_dict.items()}

    regular_model = RegularModel(
        original_graph_def=graph_def,
        input_shapes=input_shapes,
        output_nodes=output_nodes,
        anchors_mapping=anchors_mapping,
    )
    thresholds = regular_model.calibrate(calibration_dict_with_mapping)

    new_thresholds = regular_model.fine_tune(
        thresholds=thresholds,
        fine_tuning_epochs=FINE_TUNING_EPOCHS,
        fine_tuning_data=fine_tuning_dict_with_mapping,
        working_dir=os.path.join(_WORK_DIR, "training"),
    )
    quantized_model = regular_model.quantize(new_thresholds)

    return quantized_model


def _dump_calibration_thresholds() -> None:
    """The thresholds file of ways 2 and 3: a calibration run (as way 1 calibrates) whose thresholds
    `RegularModel.dump_thresholds` writes to THRESHOLDS_PATH."""
    graph_def, onnx_tensor_id_to_tf_tensor_name = _convert_onnx_to_tf_graphdef(_read_original_onnx_model())
    calibration_dict = _load_test_samples_for_calibration_or_finetune(number_of_samples=2)
    regular_model = RegularModel(
        original_graph_def=graph_def,
        input_shapes={onnx_tensor_id_to_tf_tensor_name[INPUT_TENSOR_NAME]: (_BATCH, _CHANNELS, *_PREPROCESSING_HW)},
        output_nodes=[onnx_tensor_id_to_tf_tensor_name[OUTPUT_TENSOR_NAME]],
        anchors_mapping=onnx_tensor_id_to_tf_tensor_name,
    )
    thresholds = regular_model.calibrate({onnx_tensor_id_to_tf_tensor_name[k]: v for k, v in calibration_dict.items()})
    RegularModel.dump_thresholds(THRESHOLDS_PATH, thresholds)
    tf.compat.v1.reset_default_graph()


def test_end_to_end(
    quant_function: Callable[
        [tf.compat.v1.GraphDef, Dict[str, Tuple[int, ...]], List[str], Dict[str, str]],
        QuantizedModel,
    ],
    enable_tlm_execution: bool,
    enable_tpu_execution: bool,
    enable_tpu_raw_mode: bool,
    save_graph_path: Optional[str],
) -> None:
    """Demonstrates a complete flow from the original model through
    quantization and compilation to TPU execution"""

    # Load test input data:
    test_input_dict = _load_test_input_tensor_dict()

    # User supplies original model in form an instance of tensorflow class,
    # in this example we load it from a file:
    onnx_original_model = _read_original_onnx_model()

    # Demonstrate that original onnx model works:
    _test_original_onnx_model(onnx_original_model, test_input_dict)
    graph_def, onnx_tensor_id_to_tf_tensor_name = _convert_onnx_to_tf_graphdef(onnx_original_model)

    # NOTE: if we have tf model, then can skip steps connected with onnx above.
    # All we have to do instead:
    # 1) load tf model:
    # with tf.compat.v1.io.gfile.GFile(GRAPH_PATH, 'rb') as file:
    #     file_data = file.read()
    # original_graph_def = tf.compat.v1.GraphDef()
    # original_graph_def.ParseFromString(file_data)
    # _nodes = [n.name + ":0" for n in serialized_graph.node]
    # onnx_tensor_id_to_tf_tensor_name = {name: name for name in _nodes}
    # 2) keep the code below as is

    if save_graph_path is not None:
        tf.io.write_graph(
            graph_def,
            save_graph_path,
            GRAPH_NAME_FOR_SAVING,
            as_text=False,
        )

    # Demonstrate that converted tf model works:
    _test_converted_tf_model(graph_def, test_input_dict, onnx_tensor_id_to_tf_tensor_name)
    # Reset graph to prevent issues with testing quantized model
    tf.compat.v1.reset_default_graph()

    # Use selected quantization function to obtain quantized model:
    _input_shape = (_BATCH, _CHANNELS, *_PREPROCESSING_HW)
    quantized_model = quant_function(
        graph_def,
        {onnx_tensor_id_to_tf_tensor_name[INPUT_TENSOR_NAME]: _input_shape},
        [onnx_tensor_id_to_tf_tensor_name[OUTPUT_TENSOR_NAME]],
        onnx_tensor_id_to_tf_tensor_name,
    )

    # Define target hardware parameters (an instance of ModelParameters class),
    # parameters may be constructed manually or a predefined set used:
    hardware_parameters = TPU_128x128_PARAMS

    # Demonstrate the quantized model works as well:
    _test_quantized_model(
        quantized_model,
        test_input_dict,
        onnx_tensor_id_to_tf_tensor_name,
        # debugging with quantized PB requires CWL value
        # (typical value is 128 for TPU with 128*128 systolic array)
        cache_word_length=hardware_parameters.tpu_parameters.cache_word_length,
    )

    # Compiler requires model in a different format
    # (these model not necessarily comes from quantization utility)
    # so conversion is required:
    network, renaming = Network.from_quantized_model(quantized_model)
    network.set_batch(1)

    # Compile quantized model.
    # Compilation yields so called TLM model that holds
    # all TPU instructions and model constants (weights). It is crucial for a
    # debugging to have access to a TLM program separately:
    tlm_program = compiler.compile_(hardware_parameters, network, DEFAULT)

    # TLM
    if enable_tlm_execution:
        # ====================================================================#
        # NOTE: Testing on a TLM model is an internal debug tool. TLM packages
        # are not distributed in production and are unavailable to the public.
        # Presence of TLM testing in this file guarantees internal consistency
        # of test system and must be ignored by any external users unless
        # explicitly mentioned by developers.
        # ====================================================================#
        _test_tlm_program(tlm_program, test_input_dict)  # Check TLM

    # TPU
    if enable_tpu_execution:
        # Compiler program must be saved to a separate *.tpu file (internal
        # format). This a separation line between TPU Framework (that has
        # original model as in input and TPU program as an output) and TPU
        # Runtime (that has TPU program as input and allows user to make
        # inference runs with a given data).
        with tempfile.TemporaryDirectory() as temporary_directory:
            # Full path to the output .tpu program:
            tpu_program_file_name = os.path.join(temporary_directory, "program.tpu")

            executable, tensor_descriptions = tlm_program

            # Save TLM program in TPU format:
            tpu_program = TpuProgram.from_executable(executable, tensor_descriptions)
            tpu_program.to_file(tpu_program_file_name)

            # Get list of all available TPU devices on a localhost:
            available_tpu_devices = tpu.Device.list_devices()
            assert available_tpu_devices, "TPU not found, see: ls /dev/tpu* "

            if enable_tpu_raw_mode:
                # Convert regular program to raw program, for raw program user
                # must perform TPU packing/unpacking manually. `codec` instance
                # performs packing/unpacking via Python implementation.
                raw_program_file_name = os.path.join(temporary_directory, "program_raw.tpu")
                codec = tpu.convert_to_raw(tpu_program_file_name, raw_program_file_name)

                # Use path to RAW-version of the program:
                tpu_program_file_name = raw_program_file_name

            # Open first available TPU device:
            with tpu.Device.open(available_tpu_devices[0]) as tpu_device:
                # Upload saved program to a TPU:
                with tpu_device.load(tpu_program_file_name) as tpu_program:
                    # Create an inference session:
                    with tpu_program.inference() as inference:
                        if enable_tpu_raw_mode:
                            # Explicit TPU packing: convert input from user
                            # format to TPU raw format
                            test_input_dict = codec.encode(test_input_dict)

                            # Perform a single inference with raw data
                            # (blocking call). libtpu now accepts ready uin8
                            # data and should NOT perform tpu packing/unpackng:
                            tpu_output = inference.sync(test_input_dict)

                            # Explicit TPU unpacking: convert back from TPU raw
                            # format to user format
                            tpu_output = codec.decode(tpu_output)
                        else:
                            # Perform a single inference (blocking call):
                            tpu_output = inference.sync(test_input_dict)

                        # Check that TPU (as an alternative model) works. Note
                        # that the TPU output dictionary (as well as original
                        # model output and quantized model output)
                        # are subjected to the same test procedure:
                        _assert_output_dictionary(tpu_output, "TPU")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enable-tlm", action="store_true", default=False)
    parser.add_argument("--enable-tpu", action="store_true", default=False)
    parser.add_argument("--enable-raw", action="store_true", default=False)
    parser.add_argument("--save-graph-path", default=None)
    parser.add_argument("--quantize-method", action="store", default="qc")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()

    print(
        f"Testing end-to-end with args: \n"
        f"- TLM enable={args.enable_tlm},\n"
        f"- TPU enable={args.enable_tpu},\n"
        f"- TPU raw mode={args.enable_raw}\n"
        f"- Save graph={args.save_graph_path}\n"
        f"- Quant method={args.quantize_method}"
    )

    q_methods = {
        "qc": quantization_with_calib,
        "qcf": quantization_with_calib_and_finetune,
        "qt": quantization_with_thresholds,
        "qtf": quantization_with_thresholds_and_finetune,
    }

    if args.quantize_method in ("qt", "qtf") and not os.path.exists(THRESHOLDS_PATH):
        _dump_calibration_thresholds()

    test_end_to_end(
        q_methods[args.quantize_method],
        args.enable_tlm,
        args.enable_tpu,
        args.enable_raw,
        args.save_graph_path,
    )
