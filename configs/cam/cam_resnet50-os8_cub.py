# CAM on ResNet-50 with a 28x28 map at 224 (output stride 8): layer3 and
# layer4 both at stride 1, no dilation. This is the "large feature map"
# ResNet-50 of the wsolevaluation protocol (Choe et al., CVPR 2020), whose
# 28x28 resolution matches the features BAS's generator reads; it costs about
# 3x the forward MACs of the output-stride-16 model in cam_resnet50_cub.py.
_base_ = './cam_resnet50_cub.py'

model = dict(backbone=dict(strides=(1, 2, 1, 1)))
