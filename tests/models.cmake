# models/: parameter registry and strict loading by torchvision key.
hnd_add_test(test_model_params SOURCES test_model_params.c LIBS hnd_models)
# each module's own torchvision initialisation (models/init.h)
hnd_add_test(test_init SOURCES test_init.c LIBS hnd_models)
