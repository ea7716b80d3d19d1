# models/: ResNet body, FPN, BackboneWithFPN and GeneralizedRCNNTransform.
# test_backbone runs tests/py/ref_backbone.py (torchvision 0.14) in its group
# setup and imports the .pth files it writes with `hnd import-torchvision`.
hnd_add_test(test_backbone SOURCES test_backbone.c LIBS hnd_models LABELS torch)
add_dependencies(test_backbone hnd)
set_tests_properties(test_backbone PROPERTIES TIMEOUT 600)
