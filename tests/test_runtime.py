"""The runtime: the examples of tpu_runtime_api.md and the manual's TPU code run as written, on hand-assembled
programs; futures, pipelined host queues, benchmarks, per-layer counters, streams, bad input, use after close."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pytpu
from pytpu import (
    CacheCapacityError,
    DeviceClosedError,
    DeviceError,
    DeviceNotFoundError,
    HazardError,
    InputDataError,
    ProcessingMode,
    TPU_64x64_FPGA_PARAMS,
    TpuProgram,
    model_execute,
)
from pytpu.isa import Pattern, Ref, Unit
from tests.runtime_programs import classifier, sample_input, three_outputs, write
from tests.tpu_programs import BATCH, K, dense_executable

# Local stand-ins for the model-specific helpers the examples import.


def image_to_tensor(image: Image.Image) -> np.ndarray:
    """A 10x10 grey image as the (2, 50) input of the hand-assembled classifier."""
    pixels = np.asarray(image.convert("L"), dtype=np.float32)
    return (pixels.reshape(BATCH, K) / 255.0 * 8.0 - 4.0).astype(np.float32)


def tpu_tensor_to_classes(tensor: np.ndarray, top: int = 1) -> list[list[int]]:
    return [list(np.argsort(row)[::-1][:top]) for row in tensor]


def expected(program, inputs):
    return model_execute(*program, inputs).output_data


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """The examples' files in the current directory: a photo and the programs they open."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(45)
    Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8), "L").save("ILSVRC2012_val_00000045.JPEG")
    write(classifier(), "resnet50.tpu")
    write(classifier(), "program.tpu")
    write(three_outputs(), "omega_program_dnn_quant_3.0.0.tpu")
    return tmp_path


@pytest.fixture
def event_loop_for_examples():
    """The examples call asyncio.get_event_loop() at top level: give them a loop, close it afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def photo_tensor() -> np.ndarray:
    with Image.open("ILSVRC2012_val_00000045.JPEG") as image:
        return image_to_tensor(image)


# tpu_runtime_api.md


def test_runtime_api_example(workdir, event_loop_for_examples):
    import asyncio

    from iva_tpu import TPUDevice, TPUInference, TPUProgram

    image = Image.open("ILSVRC2012_val_00000045.JPEG")
    tensor = image_to_tensor(image)

    device = TPUDevice()
    program = TPUProgram("resnet50.tpu")  # default TPUProgramInfo is totally fine
    device.load_program(program)
    inference = TPUInference(program)
    inference.load([tensor])
    status_future = device._load_inference(inference)  # device returns future for inference status
    event_loop = asyncio.get_event_loop()
    status = event_loop.run_until_complete(status_future)
    assert status.is_success  # check that there is no errors during inference
    output = inference.get()  # get results
    tpu_tensor_to_classes(output[0], top=1)

    reference = expected(classifier(), {"Placeholder:0": tensor})["logits:0"]
    assert np.array_equal(output[0], reference)
    assert tpu_tensor_to_classes(output[0], top=1) == tpu_tensor_to_classes(reference, top=1)
    device.close()
    image.close()


def test_runtime_api_dictionary_interface(workdir, event_loop_for_examples):
    from iva_tpu import TPUDevice, TPUInference, TPUProgram

    tensor = photo_tensor()
    device = TPUDevice()
    # ...
    program = TPUProgram("resnet50.tpu")
    device.load_program(program)
    inference = TPUInference(program)
    inference.load({"Placeholder:0": tensor})
    status = asyncio.get_event_loop().run_until_complete(device.load_inference(inference))
    # ...
    assert status.is_success
    output = inference.get(as_dist=True)
    tpu_tensor_to_classes(output["logits:0"], top=1)

    assert np.array_equal(output["logits:0"], expected(classifier(), {"Placeholder:0": tensor})["logits:0"])
    assert inference.get(as_dict=True).keys() == {"logits:0"}
    device.close()


def test_runtime_api_blocking_interface(workdir):
    from iva_tpu import TPUDevice, TPUInference, TPUProgram

    tensor = photo_tensor()
    device = TPUDevice()
    program = TPUProgram("resnet50.tpu")
    device.load_program(program)
    inference = TPUInference(program)
    inference.load([tensor])
    status = device.load_inference_sync(inference)  # would block until completion
    assert status.is_success
    assert np.array_equal(inference.get()[0], expected(classifier(), {"Placeholder:0": tensor})["logits:0"])
    device.close()


def test_runtime_api_raw_buffers(workdir, event_loop_for_examples):
    x = sample_input()
    codec = pytpu.convert_to_raw("omega_program_dnn_quant_3.0.0.tpu", "unused_raw.tpu")
    with open("f.bin", "wb") as f:
        f.write(codec.encode({"x": x})["x"].tobytes())

    import asyncio

    from iva_tpu import ProcessingMode, TPUDevice, TPUInference, TPUProgram

    program = TPUProgram("omega_program_dnn_quant_3.0.0.tpu")
    device = TPUDevice()
    device.load_program(program)
    inference = TPUInference(program)

    with open("f.bin", "rb") as f:
        buf = f.read()

    inference.load([buf], mode=ProcessingMode.RAW)
    asyncio.get_event_loop().run_until_complete(device.load_inference(inference))
    outputs = inference.get(mode=ProcessingMode.RAW)

    for i in range(3):
        o = outputs[i]
        with open(f"o{i}.bin", "wb") as f:
            f.write(o)

    raw = {name: Path(f"o{i}.bin").read_bytes() for i, name in enumerate(("y0", "y1", "y2"))}
    reference = expected(three_outputs(), {"x": x})
    for name, data in codec.decode(raw).items():
        assert np.array_equal(data, reference[name])
    assert [len(r) for r in raw.values()] == [256, 256, 128]
    for name, data in inference.get(as_dict=True).items():  # the same outputs, unpacked by the runtime
        assert np.array_equal(data, reference[name])
    device.close()


def test_runtime_api_program_info_and_statistics(workdir):
    from iva_tpu import TPUDevice, TPUInference, TPUProgram, TPUProgramInfo

    config = TPUProgramInfo()
    config.max_tasks_count = 4  # configures depth of tasks queue in driver
    config.disable_static_checker = True  # disables static checker for program (the notes write `true`)
    program = TPUProgram("program.tpu", config)

    device = TPUDevice()
    device.load_program(program)
    inference = TPUInference(program)
    inference.load([photo_tensor()])
    result = device.load_inference_sync(inference)
    result = device.load_inference_sync(inference)
    result.timings  # noqa: B018 (contains statistics about inference)
    result.timings["queue_timings"]  # timings for 3 queues (QUEUE_TRANSFER_TO, QUEUE_EXECUTOR, QUEUE_TRANSFER_FROM)
    result.timings["queue_timings"][0]  # contains tuple of 2 elements: idle time and actual work time
    result.timings["queue_timings"][0][1]  # tuple of 3 values: last, average, maximum through all inferences
    result.timings["execution_timing"][1]  # same as before but with execution on tpu timings

    # Two blocking inferences of 1.144 us each, 256 bytes each way over the 16 GB/s link (0.016 us); times are
    # kept exactly, so the figures are the nearest floats to the decimal values.
    to, executor, back = result.timings["queue_timings"]
    assert to == ((1.16, 0.58, 1.16), (0.016, 0.016, 0.016))  # idle: none before the first task, 1.16 before the next
    assert executor == ((0.032, 0.024, 0.032), (1.144, 1.144, 1.144))  # empty while the inputs cross the link
    assert back == ((1.16, 1.16, 1.16), (0.016, 0.016, 0.016))
    assert result.timings["execution_timing"] == ((0.032, 0.024, 0.032), (1.144, 1.144, 1.144))

    device.stats  # noqa: B018 (returns object with global statistics about the current device)
    device.stats["mem"]  # current usage of memory in the device
    stats = device.stats
    exe = classifier()[0]
    constants, buffers = 15 * 128, 2 * 256 * 4  # the constant words; input and output per queue slot (4)
    instructions = sum(len(pytpu.encode(s)) for s in exe.program.streams)
    assert stats["mem"] == constants + buffers + instructions
    assert stats["mem_total"] == 8 * 1024**3 and stats["inferences"] == 2 and stats["programs"] == 1
    device.close()


# The manual: chapter 5 (end-to-end test, TPU part) and chapter 7 (quick start)


@pytest.mark.parametrize("enable_tpu_raw_mode", [False, True])
def test_manual_end_to_end_tpu_part(enable_tpu_raw_mode):
    import pytpu as tpu
    from pytpu import TpuProgram

    tlm_program = dense_executable()
    test_input_dict = {"x": sample_input()}
    reference = expected(tlm_program, test_input_dict)

    with tempfile.TemporaryDirectory() as temporary_directory:
        tpu_program_file_name = os.path.join(temporary_directory, "program.tpu")
        executable, tensor_descriptions = tlm_program
        tpu_program = TpuProgram.from_executable(executable, tensor_descriptions)
        tpu_program.to_file(tpu_program_file_name)
        available_tpu_devices = tpu.Device.list_devices()
        assert available_tpu_devices, "TPU not found, see: ls /dev/tpu* "
        if enable_tpu_raw_mode:
            raw_program_file_name = os.path.join(temporary_directory, "program_raw.tpu")
            codec = tpu.convert_to_raw(tpu_program_file_name, raw_program_file_name)
            tpu_program_file_name = raw_program_file_name
        with tpu.Device.open(available_tpu_devices[0]) as tpu_device:  # noqa: SIM117 (as the manual writes it)
            with tpu_device.load(tpu_program_file_name) as tpu_program:
                with tpu_program.inference() as inference:
                    if enable_tpu_raw_mode:
                        test_input_dict = codec.encode(test_input_dict)
                        tpu_output = inference.sync(test_input_dict)
                        tpu_output = codec.decode(tpu_output)
                    else:
                        tpu_output = inference.sync(test_input_dict)
                    assert tpu_output.keys() == {"y"}
                    assert np.array_equal(tpu_output["y"], reference["y"])


def test_manual_quick_start_tpu_part(tmp_path):
    import pytpu as tpu

    resnet50_input_name, resnet50_output_name, resnet50_class_offset = "Placeholder:0", "logits:0", 1
    program_file = write(classifier(), tmp_path / "resnet50_b1_o5_128x128_asic.tpu")
    preprocessed_inputs = {resnet50_input_name: sample_input(7)}

    def postprocessing(inference_outputs):
        return np.argsort(inference_outputs[resnet50_output_name]) + resnet50_class_offset

    tpu_devices = tpu.Device.list_devices()
    assert tpu_devices, f"TPU device file not found: {tpu_devices}. Check <ls /dev/tpu*>. "
    with (
        tpu.Device.open(tpu_devices[0]) as tpu_device,
        tpu_device.load(program_file) as tpu_program,
        tpu_program.inference() as inference,
    ):
        inference_outputs = inference.sync(preprocessed_inputs)
        predictions = postprocessing(inference_outputs=inference_outputs)
        top1_class = int(predictions[0][-1])

    reference = expected(classifier(), preprocessed_inputs)
    assert np.array_equal(inference_outputs[resnet50_output_name], reference[resnet50_output_name])
    assert top1_class == int(np.argsort(reference[resnet50_output_name][0])[-1]) + 1


# Asynchronous inference, host queues, benchmark, counters, streams


@pytest.fixture
def loaded(tmp_path):
    path = write(dense_executable(), tmp_path / "dense.tpu")

    def load(max_tasks_count=4, **kwargs):
        device = pytpu.Device.open()
        return device, device.load(path, max_tasks_count=max_tasks_count, **kwargs)

    return load


def test_submit_returns_futures_in_order(loaded):
    device, program = loaded()
    xs = [sample_input(seed) for seed in range(5)]
    with device, program.inference() as inference:
        futures = [inference.submit({"x": x}) for x in xs]
        results = [f.result(timeout=60) for f in futures]
        statuses = [f.status() for f in futures]
    for x, out in zip(xs, results, strict=True):
        assert np.array_equal(out["y"], expected(dense_executable(), {"x": x})["y"])
    assert [s.index for s in statuses] == list(range(5)) and all(s.is_success for s in statuses)
    assert inference.status is not None and inference.status.index == 4


def test_futures_can_be_awaited():
    async def main(inference, xs):
        return await asyncio.gather(*(inference.submit({"x": x}) for x in xs))

    executable, descriptions = dense_executable()
    xs = [sample_input(seed) for seed in range(3)]
    with pytpu.Device.open() as device, device.load(TpuProgram.from_executable(executable, descriptions)) as program:
        outputs = asyncio.run(main(program.inference(), xs))
    for x, out in zip(xs, outputs, strict=True):
        assert np.array_equal(out["y"], expected((executable, descriptions), {"x": x})["y"])


def test_queue_depth_pipelines_transfer_with_execution(loaded):
    x = {"x": sample_input()}
    reports, tasks = {}, {}
    for depth in (1, 4):
        device, program = loaded(max_tasks_count=depth)
        with device:
            reports[depth] = program.stream([x] * 6, lambda i, out: None)
        device, program = loaded(max_tasks_count=depth)
        with device, program.inference() as inference:
            futures = [inference.submit(x) for _ in range(2)]  # both handed over at once
            tasks[depth] = [f.status().times for f in futures]
    # 1.144 us per execution, 0.016 us per transfer each way.
    assert reports[1].time_us == pytest.approx(6 * (0.016 + 1.144 + 0.016))
    assert reports[4].time_us == pytest.approx(0.016 + 6 * 1.144 + 0.016)
    first, second = tasks[1]
    assert second.transfer_to[0] == first.transfer_from[1] == 1.176  # depth 1: waits for all of the first task
    first, second = tasks[4]
    assert second.transfer_to == (0.016, 0.032)  # depth 4: crosses the link while the first executes
    assert first.execution == (0.016, 1.16)
    assert second.execution[0] == first.execution[1]  # the core never waits for a transfer


def test_iva_queue_depth_overlaps(workdir):
    from iva_tpu import QUEUE_EXECUTOR, QUEUE_TRANSFER_TO, TPUDevice, TPUInference, TPUProgram, TPUProgramInfo

    timings = {}
    for depth in (1, 4):
        with TPUDevice() as device:
            program = TPUProgram("program.tpu", TPUProgramInfo(max_tasks_count=depth))
            device.load_program(program)
            inferences = [TPUInference(program) for _ in range(3)]
            for inference in inferences:
                inference.load([photo_tensor()])
            futures = [device.load_inference(inference) for inference in inferences]
            statuses = [f.result() for f in futures]
            timings[depth] = statuses
    one, four = timings[1], timings[4]
    assert four[1].times.transfer_to[1] < four[0].times.execution[1]
    assert one[1].times.transfer_to[0] == pytest.approx(one[0].times.transfer_from[1])
    assert four[2].times.done_us < one[2].times.done_us
    # the transfer queue's work includes waiting for the link; the executor's idle time shrinks to none
    assert four[2].timings["queue_timings"][QUEUE_TRANSFER_TO][1][2] == pytest.approx(0.048)
    assert four[2].timings["queue_timings"][QUEUE_EXECUTOR][0][0] == 0.0
    assert one[2].timings["execution_timing"][0][0] == pytest.approx(0.032)


def test_benchmark_rate_and_latency_percentiles(loaded):
    x = {"x": sample_input()}
    device, program = loaded(max_tasks_count=1)
    with device:
        serial = program.benchmark(x, iterations=10)
    assert (serial.inferences, serial.batch) == (10, 2)
    assert serial.time_us == pytest.approx(11.76)
    assert serial.rate == pytest.approx(10 / 11.76e-6)
    assert serial.samples_per_second == pytest.approx(2 * 10 / 11.76e-6)
    assert (serial.p50_us, serial.p90_us, serial.p99_us) == pytest.approx((1.176, 1.176, 1.176))

    device, program = loaded(max_tasks_count=4)
    with device:
        piped = program.benchmark(x, iterations=10, batch=8)
    # The first four go in at once and queue behind each other; then each waits for four executions.
    latencies = [1.176, 2.32, 3.464, 4.608] + [4.576] * 6
    assert piped.latencies_us == pytest.approx(latencies)
    assert piped.time_us == pytest.approx(0.016 + 10 * 1.144 + 0.016)
    assert piped.p50_us == pytest.approx(np.percentile(latencies, 50))
    assert piped.p90_us == pytest.approx(np.percentile(latencies, 90))
    assert piped.p99_us == pytest.approx(np.percentile(latencies, 99))
    assert piped.batch == 8 and piped.rate > serial.rate
    summary = piped.summary()
    assert summary["latency_max_us"] == pytest.approx(4.608) and summary["inferences"] == 10
    assert piped.layer_times.keys() == {"fc", "output"}


def test_per_layer_counters(loaded):
    x = {"x": sample_input()}
    device, program = loaded()
    with device, program.inference() as inference:
        with pytest.raises(DeviceError, match="no inference has completed"):
            inference.performance_counters()
        inference.sync(x)
        counters = inference.performance_counters()
    reference = model_execute(*dense_executable(), x)
    assert counters == reference.layer_times
    assert (counters["fc"].start_us, counters["fc"].end_us) == pytest.approx((0.0, 0.644))
    assert counters["fc"].busy_us["ME.array"] == pytest.approx(0.082)
    assert inference.status.execution_time_us == reference.execution_time_us


def test_shape_queries(tmp_path):
    with pytpu.Device.open() as device, device.load(write(three_outputs(), tmp_path / "p.tpu")) as program:
        assert list(program.inputs) == ["x"] and list(program.outputs) == ["y0", "y1", "y2"]
        x = program.inputs["x"]
        assert (x.shape, x.dtype, x.scale, x.zero_point, x.packed_nbytes) == ((2, 50), "float32", 0.05, 3, 256)
        assert program.outputs["y2"].shape == (1, 30)
        assert program.batch == 2


def test_stream_with_input_and_output_callbacks(loaded):
    xs = [sample_input(seed) for seed in range(5)]
    events = []
    remaining = list(xs)

    def next_input():
        events.append("in")
        return {"x": remaining.pop(0)} if remaining else None

    received = {}

    def on_output(index, outputs):
        events.append("out")
        received[index] = outputs

    device, program = loaded(max_tasks_count=2)
    with device:
        report = program.stream(next_input, on_output)
        from_iterable = []
        program.stream(({"x": x} for x in xs), lambda i, out: from_iterable.append(out["y"]))
    # Two in flight: the next input is asked for only when a slot frees.
    assert events == ["in", "in", "out", "in", "out", "in", "out", "in", "out", "in", "out"]
    assert sorted(received) == list(range(5)) and report.inferences == 5
    for i, x in enumerate(xs):
        reference = expected(dense_executable(), {"x": x})["y"]
        assert np.array_equal(received[i]["y"], reference)
        assert np.array_equal(from_iterable[i], reference)
    assert report.time_us == pytest.approx(0.016 + 5 * 1.144 + 0.016)


# Failures: bad input, bad programs, use after close


def test_bad_inputs_are_typed_errors(loaded):
    device, program = loaded()
    x = sample_input()
    cases = [
        ({}, r"inputs missing: \['x'\], not inputs of the program: \[\]"),
        ({"x": x, "z": x}, r"not inputs of the program: \['z'\]"),
        ({"X": x}, r"not inputs of the program: \['X'\]; it takes \['x'\] \('X' looks like 'x'\)"),
        ({"x": x[0]}, r"tensor 'x' has shape \(2, 50\), got \(50,\)"),
        ({"x": x.T}, r"tensor 'x' has shape \(2, 50\), got \(50, 2\)"),
        ({"x": x.astype(np.int64)}, r"tensor 'x' takes float32 data \(or int8 codes\), got int64"),
        ({"x": np.full((2, 50), "a")}, r"tensor 'x' takes float32 data \(or int8 codes\), got <U1"),
        ([x], r"inputs must be a mapping of tensor name to data, got list"),
    ]
    with device, program.inference() as inference:
        for inputs, message in cases:
            with pytest.raises(InputDataError, match=message):
                inference.sync(inputs)
        with pytest.raises(InputDataError, match=r"raw tensor 'x' is 256 bytes \(2 words of 128\), got 100"):
            inference.sync({"x": bytes(100)}, mode=ProcessingMode.RAW)
        with pytest.raises(DeviceError, match="mode must be a ProcessingMode"):
            inference.sync({"x": x}, mode="raw")
        assert np.array_equal(inference.sync({"x": x})["y"], expected(dense_executable(), {"x": x})["y"])


def test_iva_bad_inputs(workdir):
    from iva_tpu import TPUDevice, TPUInference, TPUProgram

    program = TPUProgram("program.tpu")
    inference = TPUInference(program)
    with TPUDevice() as device:
        with pytest.raises(DeviceError, match=r"not loaded: call device\.load_program"):
            device.load_inference(inference)
        device.load_program(program)
        with pytest.raises(DeviceError, match=r"no inputs: call inference\.load"):
            device.load_inference(inference)
        with pytest.raises(InputDataError, match=r"takes 1 inputs \['Placeholder:0'\], got 2"):
            inference.load([photo_tensor(), photo_tensor()])
        with pytest.raises(InputDataError, match=r"'Placeholder' looks like 'Placeholder:0'"):
            inference.load({"Placeholder": photo_tensor()})
        with pytest.raises(InputDataError, match="must be a list or a dict"):
            inference.load(photo_tensor())
        with pytest.raises(DeviceError, match="no outputs yet"):
            inference.get()


def test_program_failing_the_static_checker(tmp_path):
    executable, descriptions = dense_executable()
    racy = dataclasses.replace(executable, program=executable.program.without_dep(Ref(Unit.ME, 1), Ref(Unit.DTL1, 0)))
    path = write((racy, descriptions), tmp_path / "racy.tpu")
    with pytpu.Device.open() as device:
        with pytest.raises(HazardError, match="ME:1 GEMM"):
            device.load(path)
        with device.load(path, disable_static_checker=True) as program, program.inference() as inference:
            inference.sync({"x": sample_input()})
            assert inference.status.cycles == 1144 - 48


def test_failure_while_running_gives_an_unsuccessful_status(tmp_path, workdir):
    from iva_tpu import TPUDevice, TPUInference, TPUProgram, TPUProgramInfo

    executable, descriptions = dense_executable()
    streams = list(executable.program.dtl1)
    load = streams[0]
    streams[0] = dataclasses.replace(load, cache=Pattern(40_000, ((2, 1),)))  # beyond the 32768-word cache
    broken = dataclasses.replace(executable, program=dataclasses.replace(executable.program, dtl1=tuple(streams)))
    path = write((broken, descriptions), tmp_path / "broken.tpu")
    with pytpu.Device.open() as device:
        with pytest.raises(CacheCapacityError):
            device.load(path)
        with device.load(path, disable_static_checker=True) as program, program.inference() as inference:
            future = inference.submit({"x": sample_input()})
            with pytest.raises(CacheCapacityError, match="DTL1:0 LOAD"):
                future.result()
            assert not future.status().is_success and isinstance(future.status().error, CacheCapacityError)
        assert device.stats["failed"] == 1 and device.stats["inferences"] == 0

    program = TPUProgram(path, TPUProgramInfo(disable_static_checker=True))
    with TPUDevice() as device:
        device.load_program(program)
        inference = TPUInference(program)
        inference.load({"x": sample_input()})
        status = device.load_inference_sync(inference)
        assert not status.is_success and isinstance(status.error, CacheCapacityError)


def test_use_after_close(loaded, workdir):
    device, program = loaded()
    inference = program.inference()
    inference.close()
    with pytest.raises(DeviceClosedError, match="the inference is closed"):
        inference.sync({"x": sample_input()})
    live = program.inference()
    program.close()
    with pytest.raises(DeviceClosedError, match="the program is closed"):
        live.sync({"x": sample_input()})
    with pytest.raises(DeviceClosedError, match="the program is closed"):
        program.inference()
    again = device.load(write(dense_executable(), "again.tpu"))
    device.close()
    assert again.closed
    for use in (lambda: again.inference(), lambda: device.load("again.tpu"), lambda: device.__enter__()):
        with pytest.raises(DeviceClosedError, match="closed"):
            use()
    device.close()  # closing twice is harmless

    from iva_tpu import TPUDevice, TPUInference, TPUProgram

    tpu = TPUDevice()
    program = TPUProgram("program.tpu")
    tpu.load_program(program)
    inference = TPUInference(program)
    inference.load([photo_tensor()])
    tpu.close()
    with pytest.raises(DeviceClosedError, match="device 'sim0' is closed"):
        tpu.load_inference_sync(inference)
    with pytest.raises(DeviceClosedError):
        tpu.load_program(program)


def test_devices_and_platforms(tmp_path):
    assert pytpu.Device.list_devices() == ["sim0"]
    with pytest.raises(DeviceNotFoundError, match=r"no TPU device '/dev/tpu0'; available: \['sim0'\]"):
        pytpu.Device.open("/dev/tpu0")
    path = write(dense_executable(), tmp_path / "asic.tpu")
    fpga = pytpu.Device.open("sim0", hw=TPU_64x64_FPGA_PARAMS)
    with fpga, pytest.raises(DeviceError, match="built for a 128x128_asic, device 'sim0' is a 64x64_fpga"):
        fpga.load(path)
    with (
        pytpu.Device.open() as device,
        pytest.raises(DeviceError, match=r"max_tasks_count must be a whole number in 1\.\.1024, got 0"),
    ):
        device.load(path, max_tasks_count=0)
