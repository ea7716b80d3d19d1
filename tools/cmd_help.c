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
     "                 [--quality Q] [--threads T] [--quiet]\n"
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
     "\n"
     "Runs a torchvision-exact Faster or Mask R-CNN on JPEG/PNG files (a directory\n"
     "means its .jpg/.jpeg/.png files, in name order) and writes COCO results JSON\n"
     "(atomically): [{image_id, category_id, bbox [x,y,w,h] in original pixels, score,\n"
     "segmentation {size, counts} (compressed RLE, Mask R-CNN, mask > 0.5)}].\n"
     "Import torchvision weights first: hnd import-torchvision X.pth W.h5\n"
     "\n"
     "  --weights W.h5       hnd weight file (torchvision state_dict keys)\n"
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
