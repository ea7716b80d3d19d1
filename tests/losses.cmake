# models/rcnn_loss.h: torchvision's training losses of Faster/Mask R-CNN
# (matcher, sampler, RPN / RoI heads / mask losses, one SGD step) against
# python3-torchvision references generated at test time.
hnd_add_test(test_rcnn_loss SOURCES test_rcnn_loss.c LIBS hnd_models LABELS torch)
set_tests_properties(test_rcnn_loss PROPERTIES TIMEOUT 600)
