"""The instruction set: units, address patterns, instructions, their binary encoding and text form.

See docs/isa.md.  Importing this package registers every instruction class.
"""

from pytpu.isa.asm import assemble, disassemble, format_instruction, parse_instruction
from pytpu.isa.base import BY_MNEMONIC, BY_OPCODE, Instruction, Space, Span, queue_of
from pytpu.isa.builder import ProgramBuilder
from pytpu.isa.dma import Load, Store
from pytpu.isa.encoding import ISA_VERSION, decode, decode_program, encode, encode_program
from pytpu.isa.ewp_arith import Add, Interp, Lut, Mul, PRelu, Rescale
from pytpu.isa.ewp_move import Fill, Move
from pytpu.isa.ewp_reduce import LayerNorm, Softmax
from pytpu.isa.ewp_window import AvgPool, MaxPool, Pack, Windowed
from pytpu.isa.fields import LUT_ENTRIES, Field, Kind, Limits, limits_of
from pytpu.isa.me import Drain, Gemm, LoadWeights
from pytpu.isa.pattern import MAX_DIMS, Pattern
from pytpu.isa.program import LayerSpan, Program
from pytpu.isa.units import DMA_LANES, UNITS, Ref, Unit

INSTRUCTIONS: tuple[type[Instruction], ...] = tuple(BY_OPCODE[op] for op in sorted(BY_OPCODE))
"""Every instruction class, by opcode."""

__all__ = [
    "BY_MNEMONIC",
    "BY_OPCODE",
    "DMA_LANES",
    "INSTRUCTIONS",
    "ISA_VERSION",
    "LUT_ENTRIES",
    "MAX_DIMS",
    "UNITS",
    "Add",
    "AvgPool",
    "Drain",
    "Field",
    "Fill",
    "Gemm",
    "Instruction",
    "Interp",
    "Kind",
    "LayerNorm",
    "LayerSpan",
    "Limits",
    "Load",
    "LoadWeights",
    "Lut",
    "MaxPool",
    "Move",
    "Mul",
    "PRelu",
    "Pack",
    "Pattern",
    "Program",
    "ProgramBuilder",
    "Ref",
    "Rescale",
    "Softmax",
    "Space",
    "Span",
    "Store",
    "Unit",
    "Windowed",
    "assemble",
    "decode",
    "decode_program",
    "disassemble",
    "encode",
    "encode_program",
    "format_instruction",
    "limits_of",
    "parse_instruction",
    "queue_of",
]
