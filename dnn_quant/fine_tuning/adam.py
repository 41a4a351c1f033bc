"""Adam (Kingma & Ba 2015) over plain ``tf.Variable``s, usable inside a ``tf.function``."""

from __future__ import annotations

import tensorflow as tf


class Adam(tf.Module):
    def __init__(self, variables: list[tf.Variable], learning_rate: float, beta1: float = 0.9, beta2: float = 0.999):
        super().__init__(name="adam")
        self.variables_, self.learning_rate, self.beta1, self.beta2 = variables, learning_rate, beta1, beta2
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]
        self.step = tf.Variable(0.0, trainable=False)

    def apply(self, gradients: list[tf.Tensor]) -> None:
        self.step.assign_add(1.0)
        correction = tf.sqrt(1.0 - self.beta2**self.step) / (1.0 - self.beta1**self.step)
        for variable, m, v, g in zip(self.variables_, self.m, self.v, gradients, strict=True):
            m.assign(self.beta1 * m + (1.0 - self.beta1) * g)
            v.assign(self.beta2 * v + (1.0 - self.beta2) * tf.square(g))
            variable.assign_sub(self.learning_rate * correction * m / (tf.sqrt(v) + 1e-12))
