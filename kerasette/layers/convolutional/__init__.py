"""The convolution layers, one module each (Keras 1 module path ``keras.layers.convolutional``,
which also held the padding, cropping and upsampling layers and, for scripts that import them from
here as Keras 1 and 2 allowed, the pooling layers: they are exported here too)."""

from kerasette.layers.convolutional.conv1d import AtrousConvolution1D, Conv1D, Convolution1D
from kerasette.layers.convolutional.conv2d import Conv2D
from kerasette.layers.convolutional.conv3d import Conv3D, Convolution3D
from kerasette.layers.convolutional.conv3d_transpose import Conv3DTranspose, Deconvolution3D
from kerasette.layers.convolutional.depthwise import DepthwiseConv2D
from kerasette.layers.convolutional.separable import SeparableConv2D
from kerasette.layers.convolutional.separable1d import DepthwiseConv1D, SeparableConv1D
from kerasette.layers.convolutional.transpose import Conv2DTranspose, Deconvolution2D
from kerasette.layers.convolutional.transpose1d import Conv1DTranspose
from kerasette.layers.pooling import (
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
)
from kerasette.layers.pooling1d import (
    AveragePooling1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)
from kerasette.layers.pooling3d import (
    AveragePooling3D,
    GlobalAveragePooling3D,
    GlobalMaxPooling3D,
    MaxPooling3D,
)
from kerasette.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    UpSampling1D,
    UpSampling2D,
    ZeroPadding1D,
    ZeroPadding2D,
)
from kerasette.layers.reshaping3d import Cropping3D, UpSampling3D, ZeroPadding3D

Convolution2D = Conv2D
AtrousConvolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D

__all__ = ["Conv2D", "Convolution2D", "Cropping2D", "UpSampling2D", "ZeroPadding2D"]
__all__ += ["Conv2DTranspose", "Deconvolution2D"]
__all__ += ["AtrousConvolution2D", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D"]
__all__ += ["AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling2D"]
__all__ += ["AtrousConvolution1D", "Conv1D", "Conv1DTranspose", "Convolution1D", "DepthwiseConv1D", "SeparableConv1D"]
__all__ += ["AveragePooling1D", "Cropping1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D",
            "UpSampling1D", "ZeroPadding1D"]
__all__ += ["AveragePooling3D", "Conv3D", "Convolution3D", "Cropping3D", "GlobalAveragePooling3D",
            "GlobalMaxPooling3D", "MaxPooling3D", "UpSampling3D", "ZeroPadding3D"]
__all__ += ["Conv3DTranspose", "Deconvolution3D"]
