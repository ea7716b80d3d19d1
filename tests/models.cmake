# models/: parameter registry and strict loading by torchvision key.
hnd_add_test(test_model_params SOURCES test_model_params.c LIBS hnd_models)
# each module's own torchvision initialisation (models/init.h)
hnd_add_test(test_init SOURCES test_init.c LIBS hnd_models)
# models/split_rcnn.h: the one split detector — probe on torchvision-written
# files, head then tail = whole (bit for bit), strict-load errors by name.
hnd_add_test(test_split_rcnn SOURCES test_split_rcnn.c LIBS hnd_train LABELS torch)
set_tests_properties(test_split_rcnn PROPERTIES TIMEOUT 300)
