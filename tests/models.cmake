# models/: parameter registry and strict loading by torchvision key.
hnd_add_test(test_model_params SOURCES test_model_params.c LIBS hnd_models)
