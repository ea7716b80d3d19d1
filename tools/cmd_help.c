/* cmd_help.c: command table and help texts (torch-free). */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const hnd_command_info k_commands[] = {
    {"help", "show commands, or the help of one command",
     "usage: hnd help [COMMAND]\n", 0},
    {"version", "print the hnd version",
     "usage: hnd version\n", 0},
    {"import-torchvision", "convert a torchvision .pth state dict to an hnd weight file (.h5)",
     "usage: hnd import-torchvision IN.pth OUT.h5 [--prefix-strip PREFIX] [--quiet]\n"
     "\n"
     "Reads a file written by torch.save, zip (torch >= 1.6) or legacy format\n"
     "(the torchvision COCO checkpoints, e.g. fasterrcnn_resnet50_fpn_coco-258fb6c6.pth),\n"
     "holding a state dict or a checkpoint dict with a 'model' entry, and writes\n"
     "every tensor to OUT.h5 under /weights/<key> (atomically). Needs no libtorch.\n"
     "\n"
     "  --prefix-strip P  remove P from the start of every key (e.g. 'module.')\n"
     "  --quiet           no summary\n", 0},
    {"synth", "write the synthetic COCO-format dataset (shapes, JPEG + instances json)",
     "usage: hnd synth --out DIR --train N --val M [--size WxH] [--seed S]\n"
     "                 [--quality Q] [--threads T] [--class-colors] [--quiet]\n"
     "\n"
     "Writes a COCO-format instance segmentation set of simple shapes:\n"
     "  DIR/annotations/instances_train.json, DIR/annotations/instances_val.json\n"
     "  DIR/train/*.jpg, DIR/val/*.jpg\n"
     "Six classes with sparse category ids (circle 1, square 2, triangle 5, star 9,\n"
     "hexagon 13, ellipse 21), 0..6 objects per image of varied sizes, colours and\n"
     "overlaps on textured backgrounds; polygon segmentations; area is the\n"
     "pycocotools RLE area of the polygon and bbox the RLE's box, and the painted\n"
     "pixels are exactly the mask. About 4% of the images have no objects.\n"
     "The same seed gives byte-identical files, whatever the thread count.\n"
     "\n"
     "  --out DIR      output directory (created)\n"
     "  --train N      training images\n"
     "  --val M        validation images\n"
     "  --size WxH     image size (default 320x240)\n"
     "  --seed S       seed (default 0)\n"
     "  --quality Q    JPEG quality 1..100 (default 90)\n"
     "  --threads T    writer threads (default: cores, at most 16)\n"
     "  --class-colors each class in its own colour (red circles, green squares,\n"
     "                 blue triangles, yellow stars, magenta hexagons, cyan\n"
     "                 ellipses; jittered per object): an easier set, learnt by a\n"
     "                 detector trained from scratch in minutes (make demo); the\n"
     "                 shapes and layout are those of the same seed without it\n"
     "  --quiet        no summary line, no progress bar\n", 0},
    {"eval", "COCO bbox / segm mAP of a results file (as pycocotools, much faster)",
     "usage: hnd eval --gt GT.json --dt RESULTS.json --iou bbox|segm [--json OUT.json]\n"
     "                [--per-category] [--strict-categories] [--quiet]\n"
     "\n"
     "Evaluates COCO results JSON ([{image_id, category_id, score, bbox | segmentation}])\n"
     "against COCO ground truth exactly as pycocotools' COCOeval (IoU .50:.05:.95,\n"
     "101 recall points, maxDets 1/10/100, areas all/small/medium/large) and prints\n"
     "the 12 lines of its summarize(). Needs no libtorch.\n"
     "\n"
     "  --gt GT.json           ground truth (COCO instances file)\n"
     "  --dt RESULTS.json      detections; segm results as RLE (compressed or not) or polygons\n"
     "  --iou bbox|segm        box IoU or mask IoU\n"
     "  --json OUT.json        also write {\"bbox\": [12 stats]} (or \"segm\"), atomically\n"
     "  --per-category         also print (and write) AP, AP50, AP75 of every category\n"
     "  --strict-categories    a result whose category is not in GT is an error\n"
     "                         (default: ignored and counted, as pycocotools does)\n"
     "  --quiet                no counts/timing line on stderr\n"
     "\n"
     "Errors (exit 1) name the file, the index and the field, e.g.\n"
     "  results[12].bbox: expected 4 numbers\n"
     "  results[3]: image_id 999 not in ground truth\n"
     "An empty results array gives every stat -1. HND_EVAL_THREADS=N sets the\n"
     "threads (default: all cores; results do not depend on it).\n", 0},
    {"detect", "Faster/Mask R-CNN detection on images, to COCO results JSON",
     "usage: hnd detect --weights W.h5 --arch ARCH --out RESULTS.json [options] IMAGE_OR_DIR...\n"
     "       hnd detect --config CONFIG.json [--weights W.h5] --out RESULTS.json [options] IMAGE_OR_DIR...\n"
     "\n"
     "Runs a torchvision-exact Faster or Mask R-CNN on JPEG/PNG files (a directory\n"
     "means its .jpg/.jpeg/.png files, in name order) and writes COCO results JSON\n"
     "(atomically): [{image_id, category_id, bbox [x,y,w,h] in original pixels, score,\n"
     "segmentation {size, counts} (compressed RLE, Mask R-CNN, mask > 0.5)}].\n"
     "Import torchvision weights first: hnd import-torchvision X.pth W.h5\n"
     "\n"
     "  --weights W.h5       hnd weight file (torchvision state_dict keys)\n"
     "  --config C.json      the model of a config (a teacher config's model, else its\n"
     "                       teacher_model), as hnd train-teacher builds it: shrunk\n"
     "                       FPN, anchors, sizes, classes; its ckpt is the default\n"
     "                       --weights (e.g. configs/demo/teacher_mask_rcnn_r18_synth.json)\n"
     "  --arch ARCH          faster_rcnn_resnet{18,34,50,101}_fpn or\n"
     "                       mask_rcnn_resnet{18,34,50,101}_fpn\n"
     "  --out RESULTS.json   COCO results file\n"
     "  --num-classes N      classes with background (default 91, COCO)\n"
     "  --ann INSTANCES.json take image_id from the annotation file's file_name\n"
     "                       (default: the numeric file stem, 000000139.jpg -> 139)\n"
     "  --score-thresh T     box score threshold (default 0.05)\n"
     "  --min-size N         shorter side after resizing (default 800)\n"
     "  --max-size N         longer side cap (default 1333)\n"
     "  --batch N            images per forward pass (default 1)\n"
     "  --device DEV         cpu (default), cuda or cuda:N\n"
     "  --threads N          intra-op threads (default: HND_THREADS, else all cores)\n"
     "  --visualize DIR      also write DIR/<stem>.png with boxes, 'label score' and\n"
     "                       mask overlays\n"
     "  --no-strict          load weights non-strictly (missing/unexpected keys allowed)\n"
     "  --quiet              no progress bar, no summary\n"
     "\n"
     "A progress bar is drawn on a TTY; the summary gives the median and mean time per\n"
     "image and per stage (transform, backbone, rpn, roi_heads, postprocess).\n", 1},
    {"train", "head network distillation of a student (bottleneck in layer1) from a JSON config",
     "usage: hnd train CONFIG.json [--set KEY.PATH=VALUE ...] [--resume] [--no-val] [--quiet]\n"
     "\n"
     "Distills the config's student (student_model: the teacher's detector with layer1\n"
     "replaced by Bottleneck4LargeResNet / Bottleneck4SmallResNet with C bottleneck\n"
     "channels) against its frozen teacher (teacher_model.ckpt, an hnd .h5): the loss is\n"
     "the configured sum of MSE terms between teacher and student module outputs\n"
     "(HND: backbone.body.layer1; GHND: layer1..layer4). Configs follow the reference\n"
     "project's structure (see configs/ and the README); unknown keys are errors naming\n"
     "their path.\n"
     "\n"
     "Writes to output_dir: last.h5 (every epoch), best.h5 (best validation bbox AP;\n"
     "student_model.ckpt), train.log, metrics.jsonl (JSON lines), config.json.\n"
     "\n"
     "  --set K=V     override a config value before validation (repeatable), e.g.\n"
     "                --set student_model.backbone.params.layer1.bottleneck_channel=6\n"
     "                --set train.num_epochs=2 --set device=cuda\n"
     "                V is JSON when it parses as JSON (3, 1e-3, true, [5,15]), else a string\n"
     "  --resume      continue from output_dir/last.h5 (the next epoch, or the next\n"
     "                iteration after a Ctrl-C); the result equals an uninterrupted run\n"
     "  --no-val      skip the validation after each epoch\n"
     "  --quiet       no log lines on stderr (the files are still written)\n"
     "\n"
     "Ctrl-C finishes the current iteration, writes output_dir/last.h5 and exits with\n"
     "status 130; a second Ctrl-C aborts. Threads: the config's 'threads' (0 = all cores).\n", 1},
    {"train-teacher", "train a teacher (Faster/Mask R-CNN) with torchvision's losses from a JSON config",
     "usage: hnd train-teacher CONFIG.json [--set KEY.PATH=VALUE ...] [--init WEIGHTS.h5]\n"
     "                         [--resume] [--no-val] [--quiet] [--box-teacher F.h5]\n"
     "\n"
     "Trains the config's `model` (a teacher / \"org\" config: model, dataset, train,\n"
     "test; see configs/demo/teacher_*.json) on dataset.splits.train with torchvision's\n"
     "training losses (RPN objectness and box regression, RoI classifier and box\n"
     "regression, mask BCE for Mask R-CNN), summed; SGD (train.optimizer, e.g. momentum\n"
     "0.9, weight_decay 1e-4) with the linear warm-up in epoch 0 and MultiStepLR.\n"
     "model.params may shrink the detector: fpn_out_channels, representation_size,\n"
     "mask_head_channels, anchor_sizes (5), rpn_{pre,post}_nms_top_n_{train,test},\n"
     "rpn_batch_size_per_image, box_batch_size_per_image, box_detections_per_img;\n"
     "trainable_backbone_layers (0..5, torchvision's; default 3) and frozen_bn\n"
     "(default true; false = trainable BatchNorm, for training from scratch).\n"
     "\n"
     "Writes to output_dir: last.h5 (every epoch; weights, optimizer state, position),\n"
     "train.log, metrics.jsonl (JSON lines, each loss), config.json; and the teacher\n"
     "(best validation bbox AP) to model.ckpt (default output_dir/best.h5): a complete\n"
     "detector state dict for hnd detect, hnd eval-model and teacher_model.ckpt.\n"
     "\n"
     "  --set K=V       override a config value before validation (repeatable), e.g.\n"
     "                  --set train.num_epochs=2 --set model.params.fpn_out_channels=64\n"
     "  --init W.h5     start from these weights (e.g. hnd import-torchvision output);\n"
     "                  tensors missing there keep torchvision's initialisation\n"
     "                  (drawn from the config's seed; a tensor of another shape is\n"
     "                  an error); without it: from scratch\n"
     "  --resume        continue from output_dir/last.h5 (the next epoch, or the next\n"
     "                  iteration after a Ctrl-C); the result equals an uninterrupted run\n"
     "  --no-val        skip the validation after each epoch\n"
     "  --quiet         no log lines on stderr (the files are still written)\n"
     "  --box-teacher F.h5  (Mask R-CNN) also write the trained teacher's box branch,\n"
     "                  every tensor but roi_heads.mask_*, to F.h5: a Faster R-CNN\n"
     "                  teacher for configs with the same model.params\n"
     "\n"
     "Ctrl-C finishes the current iteration, writes output_dir/last.h5 and exits with\n"
     "status 130; a second Ctrl-C aborts. Threads: the config's 'threads' (0 = all cores).\n", 1},
    {"sweep", "train and evaluate one student per bottleneck size; results.csv/json and curve.png",
     "usage: hnd sweep CONFIG.json --channels 3,6,9,12,15 [--out DIR] [--set K=V ...]\n"
     "                 [--no-teacher] [--quiet]\n"
     "\n"
     "For each C: trains the config's student with bottleneck_channel = C in DIR/b<C>ch\n"
     "(skipped when DIR/b<C>ch/last.h5 already finished all epochs; resumed when it\n"
     "stopped early), then evaluates its best checkpoint on the test split (else val)\n"
     "with the bottleneck transformer as configured. Also evaluates the teacher\n"
     "(teacher_model.ckpt). Writes, atomically:\n"
     "  DIR/results.csv, DIR/results.json  per C: bottleneck shape, mean bytes (float32;\n"
     "      8-bit with scale and zero point), ratios to the input tensor (3xHxW at 32 and\n"
     "      8 bits), bbox AP and mask AP; and the teacher's row\n"
     "  DIR/curve.png  mAP against normalized bottleneck size, the teacher right-most\n"
     "      (the paper's Figure 5)\n"
     "\n"
     "  --channels L  comma-separated bottleneck channel counts\n"
     "  --out DIR     sweep directory (default: the config's output_dir + \"-sweep\")\n"
     "  --set K=V     config overrides applied to every run\n"
     "  --no-teacher  do not evaluate the teacher\n", 1},
    {"eval-model", "evaluate a teacher or student checkpoint on a config's split (mAP, bottleneck size)",
     "usage: hnd eval-model CKPT.h5 --config CONFIG.json [--split test|val] [--out RESULTS.json]\n"
     "                      [--json STATS.json] [--bits 8|16|32 | --no-transform] [--set K=V ...]\n"
     "\n"
     "Runs the checkpoint (a student from hnd train, recognised by its bottleneck\n"
     "tensors, or a teacher weight file) on the config's test split (else val) and\n"
     "prints pycocotools' 12 bbox (and segm) stats, and for a student the mean\n"
     "bottleneck shape and size.\n"
     "\n"
     "  --split S        test (default when configured) or val\n"
     "  --out R.json     also write the COCO results JSON\n"
     "  --json S.json    write the stats as JSON\n"
     "  --bits B         bottleneck transformer: 8 (quantize), 16 (half), 32 (none);\n"
     "                   default: as the config's student_model.bottleneck_transformer\n"
     "  --no-transform   the same as --bits 32\n"
     "  --set K=V        config overrides\n", 1},
    {"analyze", "where to split: tensor sizes and cumulative parameters per module (Figs. 2-4)",
     "usage: hnd analyze --arch ARCH [--config STUDENT.json] [--input 3x800x800] [--out DIR]\n"
     "                   [--student-channels C[,C...]] [--no-student] [options]\n"
     "\n"
     "Runs one real forward pass of the original detector and of students (layer1\n"
     "replaced by an encoder | bottleneck | decoder, models/bottleneck.h) on an input of\n"
     "the given size and reports, for a split after each core module (input, conv1, bn1,\n"
     "relu, maxpool, [bottleneck], layer1..layer4, fpn, rpn, roi_heads):\n"
     "  - the elements of every tensor the tail would need, scaled by the input's\n"
     "    (a split after layer k >= 2 sends layer1..layer k, as the FPN needs them all;\n"
     "    after the RPN: proposals + FPN maps 0..3; after the RoI heads: 100 detections\n"
     "    with their pasted masks for Mask R-CNN): the paper's Figure 2;\n"
     "  - the parameters of each module and their running sum: Figures 3 and 4.\n"
     "Writes DIR/analysis.csv (every model side by side), DIR/tensor_sizes.png and\n"
     "DIR/params.png (atomically) and prints a table per model plus one line with the\n"
     "smallest split point before layer2 and the bottleneck's reduction.\n"
     "\n"
     "  --arch ARCH            faster_rcnn_resnet{18,34,50,101}_fpn, mask_rcnn_...\n"
     "  --config S.json        an experiment config (hnd train): its teacher and student\n"
     "                         (weights from teacher_model.ckpt / student_model.ckpt when\n"
     "                         those files exist)\n"
     "  --input [3x]HxW        input image size (default 3x800x800, the paper's)\n"
     "  --out DIR              output directory (default analysis/)\n"
     "  --student-channels L   students with these bottleneck channels, e.g. 3,6,9,12\n"
     "                         (default without --config: 3)\n"
     "  --student-kind K       Bottleneck4LargeResNet | Bottleneck4SmallResNet\n"
     "                         (default: the one for the ResNet depth)\n"
     "  --no-student           the original model only\n"
     "  --weights W.h5         weights (default: deterministic random ones; sizes and\n"
     "                         counts do not depend on them, only the count of\n"
     "                         detections of the pass does)\n"
     "  --student-weights S.h5 a student's layer1 weights\n"
     "  --num-classes N        classes with background (default 91)\n"
     "  --min-size N, --max-size N  the transform's sizes (default 800, 1333): the\n"
     "                         model resizes every input to them, as torchvision does\n"
     "  --device DEV           cpu (default), cuda or cuda:N\n"
     "  --seed S               seed of the random weights and input (default 0)\n"
     "  --threads N            intra-op threads (default: HND_THREADS, else all cores)\n"
     "  --quiet                only the conclusion lines\n", 1},
    {"bench-latency", "head/tail/whole timing and the mobile/edge/split total time vs link rate",
     "usage: hnd bench-latency [CONFIG.json | WEIGHTS.h5] --images DIR [--arch ARCH]\n"
     "                         [--student-channels C] [--device cpu|cuda] [--runs N] [options]\n"
     "\n"
     "Times the model on images (the transform resizes them to the 800-pixel shorter\n"
     "side, as the paper): head = transform, stem, encoder (layer1 for an original\n"
     "model), 8-bit quantizer (+ copy to host); tail = dequantizer, decoder, rest\n"
     "(layer2..4, FPN, RPN, RoI heads, postprocess); and the whole model separately,\n"
     "after warm-up, with the device synchronised around each part. Reports mean, std,\n"
     "p50, p95 per part; the bytes per image of the bottleneck (float32, float16,\n"
     "8-bit + scale + zero point) and of the input (8-bit RGB, JPEG quality 95); and\n"
     "the total time T = device + overhead + 8 bytes / rate + server of\n"
     "  mobile (all on the device), edge-jpeg95 / edge-rgb (input sent, all on the\n"
     "  server), split-8bit / split-fp16 / split-fp32 (students: head on the device)\n"
     "at each link rate, with the best strategy per rate.\n"
     "Writes DIR/latency_parts.csv, DIR/latency_model.csv, DIR/latency_model.png.\n"
     "\n"
     "The model: CONFIG.json (an experiment config: its student, or its model), a\n"
     "weight file (architecture, classes and a student's C read from its keys;\n"
     "a student file without the detector's other weights takes --teacher T.h5),\n"
     "or --arch ARCH [--student-channels C] alone (random weights).\n"
     "\n"
     "  --images DIR|FILE      JPEG/PNG images (name order), required\n"
     "  --max-images N         use at most N images (default 8)\n"
     "  --input [3x]HxW        resize every image to HxW first (the camera's size)\n"
     "  --arch ARCH            architecture (overrides what the file says)\n"
     "  --student-channels C   a student with C bottleneck channels\n"
     "  --student-kind K       Bottleneck4LargeResNet | Bottleneck4SmallResNet\n"
     "  --teacher T.h5         weights of everything but a student's layer1\n"
     "  --min-size N, --max-size N  the transform's sizes (default 800, 1333)\n"
     "  --device DEV           cpu (default), cuda or cuda:N\n"
     "  --runs N               timed passes, cycling over the images (default max(10, images))\n"
     "  --warmup N             untimed passes first (default 2)\n"
     "  --rates LIST           link rates in Mbit/s (default 0.5,1,2,5,10,50)\n"
     "  --overhead-ms MS       per-message overhead added to every transfer (default 0)\n"
     "  --slowdown F           mobile device time = F x the time measured here (default 20,\n"
     "                         about Jetson TX2 vs a desktop GPU in the paper's Table 2)\n"
     "  --device-head-ms MS    the head's time measured on the real device (replaces F)\n"
     "  --device-whole-ms MS   the whole model's time on the real device (replaces F)\n"
     "  --out DIR              output directory (default bench-latency/)\n"
     "  --seed S               seed of random weights (default 0)\n"
     "  --threads N            intra-op threads (default: HND_THREADS, else all cores)\n"
     "  --quiet                no progress and no tables\n", 1},
    {"info", "show the libtorch build: version, threads, BLAS, CUDA",
     "usage: hnd info [--threads N]\n"
     "\n"
     "Prints what the torch side of hnd was built with and can use.\n"
     "  --threads N   intra-op threads (default: HND_THREADS, else all cores)\n", 1},
};

const hnd_command_info *hnd_commands(int *count) {
    *count = (int)(sizeof k_commands / sizeof k_commands[0]);
    return k_commands;
}

const hnd_command_info *hnd_command_find(const char *name) {
    int n;
    const hnd_command_info *c = hnd_commands(&n);
    for (int i = 0; i < n; i++)
        if (strcmp(c[i].name, name) == 0) return &c[i];
    return NULL;
}

int hnd_print_help(const char *cmd) {
    if (cmd) {
        const hnd_command_info *c = hnd_command_find(cmd);
        if (!c) {
            fprintf(stderr, "hnd: unknown command '%s' (see 'hnd help')\n", cmd);
            return 2;
        }
        fputs(c->usage, stdout);
        return 0;
    }
    int n;
    const hnd_command_info *c = hnd_commands(&n);
    printf("hnd: split computing for R-CNN object detectors (head network distillation)\n\n"
           "usage: hnd COMMAND [ARGS...]\n\ncommands:\n");
    for (int i = 0; i < n; i++) printf("  %-20s %s\n", c[i].name, c[i].summary);
    printf("\n'hnd COMMAND --help' shows the options of a command.\n");
    return 0;
}

int hnd_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    }
    return 0;
}
