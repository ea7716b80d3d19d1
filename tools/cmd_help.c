/* cmd_help.c: every command's option table and help text (torch-free, so
 * that `hnd CMD --help` never loads libtorch). The tables are what the
 * commands parse with (cli_opt.h) and what --help prints. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

/* Table rows: name, metavariable, kind, range, choices, default, help. */
#define NORANGE 1, 0
#define FLAG(n, h) {n, NULL, CO_FLAG, NORANGE, NULL, NULL, h}
#define STR(n, a, d, h) {n, a, CO_STR, NORANGE, NULL, d, h}
#define CHOICE(n, a, ch, d, h) {n, a, CO_STR, NORANGE, ch, d, h}
#define INT(n, a, lo, hi, d, h) {n, a, CO_INT, lo, hi, NULL, d, h}
#define INTSET(n, a, ch, d, h) {n, a, CO_INT, NORANGE, ch, d, h}
#define REAL(n, a, lo, hi, d, h) {n, a, CO_REAL, lo, hi, NULL, d, h}
#define U64(n, a, d, h) {n, a, CO_U64, NORANGE, NULL, d, h}
#define LIST(n, a, h) {n, a, CO_LIST, NORANGE, NULL, NULL, h}
#define N_OPTS(t) (int)(sizeof t / sizeof t[0])

/* the largest image side anything accepts (synth's, the transform's) */
#define SIZE_MAX_TEXT "8192"
#define THREADS_OPT INT("--threads", "N", 0, 1 << 20, NULL, "intra-op threads, 0 = all cores (default: HND_THREADS,\nelse all cores; at most 4 per core)")
#define DEVICE_OPT STR("--device", "DEV", "cpu", "cpu, cuda or cuda:N")
#define FORMAT_OPT CHOICE("--format", "F", "png|svg|pdf", "png", "figure format: png, svg or pdf")
#define SET_OPT LIST("--set", "K=V", "override a config value before validation (repeatable), e.g.\n--set train.num_epochs=2 --set device=cuda; V is JSON when it\nparses as JSON (3, 1e-3, true, [5,15]), else a string")

static const co_opt k_import[] = {
    STR("--prefix-strip", "P", NULL, "remove P from the start of every key (e.g. 'module.')"),
    FLAG("--quiet", "no summary"),
};

static const co_opt k_synth[] = {
    STR("--out", "DIR", NULL, "output directory (created; must not hold another set)"),
    INT("--train", "N", 0, 10000000, NULL, "training images (required)"),
    INT("--val", "M", 0, 10000000, NULL, "validation images (required)"),
    STR("--size", "WxH", "320x240", "image size, each side 32.." SIZE_MAX_TEXT),
    U64("--seed", "S", "0", "seed"),
    INT("--quality", "Q", 1, 100, "90", "JPEG quality"),
    INT("--threads", "T", 1, 64, NULL, "writer threads (default: cores, at most 16)"),
    FLAG("--class-colors", "each class in its own colour (red circles, green squares,\n"
                           "blue triangles, yellow stars, magenta hexagons, cyan\n"
                           "ellipses; jittered per object): an easier set, learnt by a\n"
                           "detector trained from scratch in minutes (make demo); the\n"
                           "shapes and layout are those of the same seed without it"),
    FLAG("--keypoints", "one class with keypoints: stars (category 1) whose five tips\n"
                        "are keypoints top, right_upper, right_lower, left_lower,\n"
                        "left_upper (v 2, or 0 where a later shape covers the tip),\n"
                        "for Keypoint R-CNN and hnd eval --iou keypoints"),
    FLAG("--quiet", "no summary line, no progress bar"),
};

static const co_opt k_launch[] = {
    INT("--nproc", "N", 1, 256, "1", "processes (ranks) to start on this node"),
    INT("--nnodes", "M", 1, 4096, "1", "nodes taking part (each runs hnd launch with its --node-rank)"),
    INT("--node-rank", "K", 0, 4095, "0", "this node's index: its ranks are K*N .. K*N+N-1"),
    STR("--master", "ADDR:PORT", NULL, "rank 0's node and a free port there (the same on every\n"
                                      "node; default with one node: a free loopback port)"),
    REAL("--timeout", "S", 1, 86400, "300", "seconds for the rendezvous and each collective: a lost\n"
                                            "rank makes the others fail within it (HND_DIST_TIMEOUT)"),
};

static const co_opt k_eval[] = {
    STR("--gt", "GT.json", NULL, "ground truth (COCO instances file; required)"),
    STR("--dt", "RESULTS.json", NULL, "detections; segm results as RLE (compressed or not) or polygons\n(required)"),
    CHOICE("--iou", "bbox|segm|keypoints", "bbox|segm|keypoints", NULL,
           "box IoU, mask IoU or keypoint OKS (required)"),
    STR("--json", "OUT.json", NULL, "also write {\"bbox\": [12 stats]} (or \"segm\", or\n\"keypoints\": [10 stats]), atomically"),
    FLAG("--per-category", "also print (and write) AP, AP50, AP75 of every category"),
    FLAG("--strict-categories", "a result whose category is not in GT is an error\n"
                                "(default: ignored and counted, as pycocotools does)"),
    FLAG("--quiet", "no counts/timing line on stderr"),
    FLAG("-q", "the same as --quiet"),
};

static const co_opt k_detect[] = {
    STR("--weights", "W.h5", NULL, "hnd weight file (torchvision state_dict keys)"),
    STR("--config", "C.json", NULL, "the model of a config (a teacher config's model, else its\n"
                                    "teacher_model), as hnd train-teacher builds it: shrunk\n"
                                    "FPN, anchors, sizes, classes; its ckpt is the default\n"
                                    "--weights (e.g. configs/demo/teacher_mask_rcnn_r18_synth.json;\n"
                                    "relative paths in it are relative to the current directory)"),
    STR("--arch", "ARCH", NULL, "faster_rcnn_resnet{18,34,50,101,152}_fpn,\nmask_rcnn_resnet{18,34,50,101,152}_fpn or\n"
                                "keypoint_rcnn_resnet{18,34,50,101,152}_fpn;\nwide_resnet50_2 or wide_resnet101_2 in place of\n"
                                "resnetN, e.g. faster_rcnn_wide_resnet50_2_fpn"),
    STR("--out", "RESULTS.json", NULL, "COCO results file (required)"),
    INT("--num-classes", "N", 2, 100000, "91", "classes with background (COCO; keypoint_rcnn: 2)"),
    STR("--ann", "INSTANCES.json", NULL, "take image_id from the annotation file's file_name (default:\n"
                                         "the numeric file stem, 000000139.jpg -> 139) and class\n"
                                         "names for --visualize"),
    REAL("--score-thresh", "T", 0, 1, "0.05", "box score threshold, 0..1"),
    REAL("--min-size", "N", 32, 8192, "800", "shorter side after resizing, 32..8192"),
    REAL("--max-size", "N", 32, 8192, "1333", "longer side cap, 32..8192"),
    INT("--batch", "N", 1, 1024, "1", "images per forward pass"),
    DEVICE_OPT,
    THREADS_OPT,
    STR("--visualize", "DIR", NULL, "also write DIR/<stem>.png with boxes, 'label score',\nmask overlays and keypoints (with --ann's skeleton)"),
    FLAG("--no-strict", "load weights non-strictly (missing/unexpected keys allowed)"),
    FLAG("--strict-images", "an image that cannot be read is fatal (default: skipped,\ncounted and named on stderr)"),
    FLAG("--quiet", "no progress bar, no summary"),
};

#define RUN_OPTS                                                                                      \
    SET_OPT,                                                                                          \
    FLAG("--resume", "continue from output_dir/last.h5 (the next epoch, or the next\n"               \
                     "iteration after a Ctrl-C); the result equals an uninterrupted run;\n"         \
                     "refused when the training-relevant config changed"),                          \
    FLAG("--allow-config-change", "with --resume: accept a changed config (e.g. a new lr)"),        \
    FLAG("--overwrite", "replace a run that output_dir already holds"),                             \
    FLAG("--no-val", "skip the validation after each epoch"),                                       \
    FLAG("--sync-bn", "data-parallel (hnd launch): batch norms in training mode use the\n"          \
                      "statistics of every rank's images (SyncBatchNorm), so N processes\n"        \
                      "of batch B train as one of batch N*B; default: each rank's own"),           \
    FLAG("--quiet", "no log lines on stderr (the files are still written)"),                        \
    INT("--stop-after", "N", 1, 1LL << 50, NULL, "stop (as Ctrl-C does) after N iterations (a test hook)")

static const co_opt k_train[] = {RUN_OPTS};

static const co_opt k_train_teacher[] = {
    RUN_OPTS,
    STR("--init", "W.h5", NULL, "start from these weights (e.g. hnd import-torchvision output);\n"
                                "tensors missing there keep torchvision's initialisation\n"
                                "(drawn from the config's seed; a tensor of another shape is\n"
                                "an error); without it: from scratch"),
    STR("--box-teacher", "F.h5", NULL, "(Mask R-CNN) also write the trained teacher's box branch,\n"
                                       "every tensor but roi_heads.mask_*, to F.h5: a Faster R-CNN\n"
                                       "teacher for configs with the same model.params"),
};

static const co_opt k_sweep[] = {
    STR("--channels", "L", NULL, "comma-separated bottleneck channel counts (required)"),
    STR("--out", "DIR", NULL, "sweep directory (default: the config's output_dir + \"-sweep\")"),
    SET_OPT,
    FLAG("--no-teacher", "do not evaluate the teacher"),
    STR("--jpeg", "L", NULL, "also the teacher on inputs re-encoded as JPEG at these qualities\n"
                             "(1..95, e.g. 10,20,30,40,50,60,70,80,90,95): the edge baseline"),
    STR("--beta", "L", NULL, "also students with a learned entropy bottleneck at these rate\n"
                             "weights (e.g. 0.08,0.32,1.28,5.12), in DIR/b<C>ch_beta<B>"),
    STR("--eb-channels", "C", NULL, "their bottleneck channels (default: the largest of --channels)"),
    REAL("--density-lr", "LR", 1e-9, 10, NULL, "their density model's own Adam learning rate (default: the\n"
                                               "config's student_model.entropy_bottleneck.density_lr, else 0.01)"),
    STR("--students-from", "DIR", NULL, "no training: each C's student is DIR/b<C>ch/best.h5 of an earlier\n"
                                        "sweep (e.g. the Mask R-CNN students for a Faster R-CNN config),\n"
                                        "its frozen tensors checked bit for bit against this config's teacher"),
    FORMAT_OPT,
    FLAG("--quiet", "no log lines and no table"),
};

static const co_opt k_plot[] = {
    STR("--out", "FIG.png", NULL, "the figure (required); .svg or .pdf by extension"),
    CHOICE("--metric", "M", "bbox|segm", "bbox", "bbox or segm (mask) AP, for files without :METRIC"),
    STR("--title", "T", NULL, "figure title"),
    FLAG("--quiet", "no table"),
};

static const co_opt k_eval_model[] = {
    STR("--config", "CONFIG.json", NULL, "the experiment or teacher config (required)"),
    CHOICE("--split", "S", "test|val", NULL, "test (default when configured) or val"),
    STR("--out", "R.json", NULL, "also write the COCO results JSON"),
    STR("--json", "S.json", NULL, "write the stats as JSON"),
    INTSET("--bits", "B", "2|3|4|5|6|7|8|16|32", NULL, "bottleneck transformer: 2..8 (quantize to B bits), 16 (half),\n"
                                                      "32 (none); default: as the config's\n"
                                                      "student_model.bottleneck_transformer"),
    FLAG("--no-transform", "the same as --bits 32"),
    SET_OPT,
    FLAG("--quiet", "no progress bar"),
};

#define MODEL_SIZE_OPTS                                                                                    \
    REAL("--min-size", "N", 32, 8192, "800", "the transform's shorter side (the model resizes every\ninput to it, as torchvision does)"), \
    REAL("--max-size", "N", 32, 8192, "1333", "the transform's longer-side cap")

static const co_opt k_export[] = {
    STR("--out", "DIR", NULL, "the bundle's directory (required; created, never half-written)"),
    STR("--config", "S.json", NULL, "the experiment config the student was trained with: its\n"
                                    "student model (widths, transform sizes, transformer bits)"),
    LIST("--format", "F", "head formats, comma-separated: onnx, torchscript, c\n"
                          "(default: all three)"),
    INTSET("--bits", "B", "8|16|32", NULL, "what the head sends: 8 (uint8 + scale + zero point),\n"
                                         "16 (float16), 32 (float32); default: the config's\n"
                                         "bottleneck transformer, else 8"),
    MODEL_SIZE_OPTS,
    FLAG("--overwrite", "replace DIR when it already holds a bundle"),
    FLAG("--quiet", "no summary"),
};

static const co_opt k_split_detect[] = {
    STR("--head", "HEAD", NULL, "an export bundle (hnd export DIR: its plain-C head) or a\n"
                            "student .h5 (the libtorch head) (required)"),
    STR("--server", "HOST:PORT", NULL, "the hnd serve edge server (required)"),
    STR("--out", "RESULTS.json", NULL, "COCO results file, as hnd detect writes it (required)"),
    STR("--config", "S.json", NULL, "(student .h5) the experiment config: its student model's\n"
                                    "transform sizes and transformer bits (else 8)"),
    CHOICE("--head-format", "F", "c|torch", NULL, "c (a bundle's head.bin) or torch (a student .h5); default:\n"
                                                  "what HEAD is"),
    REAL("--min-size", "N", 32, 8192, NULL, "(student .h5) the transform's shorter side; must match the\n"
                                            "server's bundle (default: the config's, else 800)"),
    REAL("--max-size", "N", 32, 8192, NULL, "(student .h5) the transform's longer-side cap (default 1333)"),
    STR("--ann", "INSTANCES.json", NULL, "take image_id from the annotation file's file_name (default:\n"
                                         "the numeric file stem, as hnd detect)"),
    REAL("--rate-mbps", "R", 0, 1e6, "0", "pace the sends to R Mbit/s (emulate a slow link; 0: as fast\n"
                                          "as the socket goes)"),
    FLAG("--original", "the edge-computing baseline: send each image as JPEG (the\n"
                       "file itself, else re-encoded at quality 95); the server\n"
                       "runs the whole original model"),
    CHOICE("--codec", "C", "auto|raw|rans", "auto", "an 8-bit bottleneck as its bytes (raw, auto) or coded\n"
                                                    "losslessly (rans: MED prediction + rANS, about half the\n"
                                                    "bytes); an entropy-bottleneck student's symbols rANS-coded\n"
                                                    "with its 16-bit tables (auto) or as float32 (raw)"),
    INT("--retries", "N", 0, 100, "2", "reconnect and resend after a dropped connection, N times"),
    REAL("--connect-timeout", "S", 0.01, 3600, "10", "seconds per connection attempt (and for the HELLO)"),
    STR("--timings", "T.csv", NULL, "also write the per-image times (ms) and bytes as CSV"),
    THREADS_OPT,
    FLAG("--quiet", "no per-image lines and no summary"),
};

static const co_opt k_serve[] = {
    STR("--bundle", "DIR", NULL, "an export bundle (hnd export): the tail from tail.h5, the\n"
                                 "model, C, bits and the HELLO digest from manifest.json"),
    STR("--weights", "S.h5", NULL, "a student file instead (hnd train's checkpoint); clients'\n"
                                   "digests are then not checked"),
    STR("--config", "S.json", NULL, "with --weights: the config's student model (widths, sizes,\n"
                                    "transformer bits; else the file's shapes and 8 bits)"),
    STR("--original", "W.h5", NULL, "a whole detector (teacher or student file) for IMAGE\n"
                                    "requests (JPEG): the edge-computing baseline; without it\n"
                                    "IMAGE is answered with ERROR unsupported"),
    STR("--original-config", "C.json", NULL, "the config of --original's model"),
    INT("--port", "P", 0, 65535, "5555", "TCP port; 0 = any free one (the start line\nsays which)"),
    STR("--bind", "ADDR", "127.0.0.1", "listen address (0.0.0.0, :: = all)"),
    INT("--max-conns", "N", 1, 4096, "16", "connections at once; more get ERROR busy"),
    INT("--idle-timeout", "S", 0, 86400, "60", "close a connection that sends nothing for S seconds\n(0 = never)"),
    INT("--frame-timeout", "S", 1, 3600, "10", "a started frame must arrive whole within\nS seconds"),
    THREADS_OPT,
    INT("--max-requests", "N", 1, 1LL << 50, NULL, "exit after N answered requests (tests, benchmarks)"),
    FLAG("--quiet", "no line per request"),
};

static const co_opt k_analyze[] = {
    STR("--arch", "ARCH", NULL, "faster_rcnn_resnet{18,34,50,101}_fpn, mask_rcnn_...,\nkeypoint_rcnn_..."),
    STR("--config", "S.json", NULL, "an experiment config (hnd train): its teacher and student\n"
                                    "(weights from teacher_model.ckpt / student_model.ckpt when\n"
                                    "those files exist), model.params honoured"),
    STR("--input", "[3x]HxW", "3x800x800", "input image size (the paper's)"),
    STR("--out", "DIR", "analysis", "output directory"),
    STR("--student-channels", "L", NULL, "students with these bottleneck channels, e.g. 3,6,9,12\n(default without --config: 3)"),
    STR("--student-kind", "K", NULL, "Bottleneck4LargeResNet | Bottleneck4SmallResNet\n(default: the one for the ResNet depth)"),
    FLAG("--no-student", "the original model only"),
    STR("--weights", "W.h5", NULL, "weights (default: deterministic random ones; sizes and\n"
                                   "counts do not depend on them, only the count of\n"
                                   "detections of the pass does)"),
    STR("--student-weights", "S.h5", NULL, "a student's layer1 weights"),
    INT("--num-classes", "N", 2, 100000, "91", "classes with background"),
    MODEL_SIZE_OPTS,
    DEVICE_OPT,
    U64("--seed", "S", "0", "seed of the random weights and input"),
    THREADS_OPT,
    FORMAT_OPT,
    FLAG("--quiet", "only the conclusion lines"),
};

static const co_opt k_bench_latency[] = {
    STR("--images", "DIR|FILE", NULL, "JPEG/PNG images (name order), required"),
    INT("--max-images", "N", 1, 100000, "8", "use at most N images"),
    STR("--input", "[3x]HxW", NULL, "resize every image to HxW first (the camera's size)"),
    STR("--arch", "ARCH", NULL, "architecture (overrides what the file says)"),
    INT("--student-channels", "C", 1, 4096, NULL, "a student with C bottleneck channels"),
    STR("--student-kind", "K", NULL, "Bottleneck4LargeResNet | Bottleneck4SmallResNet"),
    STR("--teacher", "T.h5", NULL, "weights of everything but a student's layer1"),
    MODEL_SIZE_OPTS,
    DEVICE_OPT,
    INT("--runs", "N", 1, 1000000, NULL, "timed passes, cycling over the images (default max(10, images))"),
    INT("--warmup", "N", 0, 1000000, "2", "untimed passes first"),
    STR("--rates", "LIST", "0.5,1,2,5,10,50", "link rates in Mbit/s"),
    REAL("--overhead-ms", "MS", 0, 1e9, "0", "per-message overhead added to every transfer"),
    REAL("--slowdown", "F", 1e-6, 1e9, "20", "mobile device time = F x the time measured here (about\nJetson TX2 vs a desktop GPU in the paper's Table 2)"),
    REAL("--device-head-ms", "MS", 0, 1e9, NULL, "the head's time measured on the real device (replaces F)"),
    REAL("--device-whole-ms", "MS", 0, 1e9, NULL, "the whole model's time on the real device (replaces F)"),
    STR("--out", "DIR", "bench-latency", "output directory"),
    U64("--seed", "S", "0", "seed of random weights"),
    THREADS_OPT,
    FORMAT_OPT,
    FLAG("--quiet", "no progress and no tables"),
};

static const co_opt k_info[] = {THREADS_OPT};

static const co_command k_commands[] = {
    {"help", "show commands, or the help of one command", "usage: hnd help [COMMAND]\n", NULL, NULL, 0, NULL,
     "COMMAND", 0, 1, 0},
    {"version", "print the hnd version", "usage: hnd version\n", NULL, NULL, 0, NULL, NULL, 0, 0, 0},
    {"import-torchvision", "convert a torchvision .pth state dict to an hnd weight file (.h5)",
     "usage: hnd import-torchvision IN.pth OUT.h5 [--prefix-strip PREFIX] [--quiet]\n",
     "Reads a file written by torch.save, zip (torch >= 1.6) or legacy format\n"
     "(the torchvision COCO checkpoints, e.g. fasterrcnn_resnet50_fpn_coco-258fb6c6.pth),\n"
     "holding a state dict or a checkpoint dict with a 'model' entry, and writes\n"
     "every tensor to OUT.h5 under /weights/<key> (atomically). Needs no libtorch.\n"
     "The reference project's student checkpoints (hnd-ghnd-object-detectors:\n"
     "{model, optimizer, lr_scheduler, config, args, ...}) import as students: its\n"
     "ExtEncoder keys layer1.encoder.encoder.N.* become layer1.encoder.N.*, its\n"
     "early-exit classifier (layer1.encoder.ext_classifier.*) is dropped.\n",
     k_import, N_OPTS(k_import), NULL, "IN.pth and OUT.h5", 2, 2, 0},
    {"synth", "write the synthetic COCO-format dataset (shapes, JPEG + instances json)",
     "usage: hnd synth --out DIR --train N --val M [--size WxH] [--seed S]\n"
     "                 [--quality Q] [--threads T] [--class-colors] [--keypoints] [--quiet]\n",
     "Writes a COCO-format instance segmentation set of simple shapes:\n"
     "  DIR/annotations/instances_train.json, DIR/annotations/instances_val.json\n"
     "  DIR/train/*.jpg, DIR/val/*.jpg\n"
     "Six classes with sparse category ids (circle 1, square 2, triangle 5, star 9,\n"
     "hexagon 13, ellipse 21), 0..6 objects per image of varied sizes, colours and\n"
     "overlaps on textured backgrounds; polygon segmentations; area is the\n"
     "pycocotools RLE area of the polygon and bbox the RLE's box, and the painted\n"
     "pixels are exactly the mask. About 4% of the images have no objects.\n"
     "--keypoints: stars only, COCO keypoint annotations (keypoints, num_keypoints;\n"
     "the category's keypoints names and skeleton, as person_keypoints_*.json).\n"
     "The same seed gives byte-identical files, whatever the thread count.\n"
     "A DIR that holds a set written by hnd synth is replaced; any other\n"
     "non-empty DIR is refused.\n",
     k_synth, N_OPTS(k_synth), NULL, NULL, 0, 0, 0},
    {"launch", "start N processes of a data-parallel hnd train / train-teacher / sweep",
     "usage: hnd launch --nproc N [--nnodes M --node-rank K --master ADDR:PORT]\n"
     "                  [--timeout S] -- COMMAND ARGS...\n",
     "Starts N ranks of `hnd COMMAND ARGS...` on this node with the torchrun variables\n"
     "set (MASTER_ADDR, MASTER_PORT, RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE),\n"
     "so that they form one c10d process group (Gloo on the CPU). torchrun, srun or a\n"
     "shell loop that sets the same variables work as well. Each rank trains on its\n"
     "share of every step's batch: train.batch_size is per process, a step sees\n"
     "batch_size * N * M images. Ctrl-C (or SIGTERM) is forwarded to every rank, which\n"
     "stop together and write last.h5 (exit 130); a rank that fails is named, and the\n"
     "others exit within --timeout naming the lost rank.\n",
     k_launch, N_OPTS(k_launch),
     "Examples:\n"
     "  hnd launch --nproc 2 -- train configs/demo/hnd_faster_rcnn_r18_synth.json\n"
     "  (node 0) hnd launch --nproc 4 --nnodes 2 --node-rank 0 --master 10.0.0.1:29500 -- train C.json\n"
     "  (node 1) hnd launch --nproc 4 --nnodes 2 --node-rank 1 --master 10.0.0.1:29500 -- train C.json\n",
     "-- COMMAND ARGS", 1, -1, 0},
    {"eval", "COCO bbox / segm / keypoint mAP of a results file (as pycocotools, much faster)",
     "usage: hnd eval --gt GT.json --dt RESULTS.json --iou bbox|segm|keypoints [--json OUT.json]\n"
     "                [--per-category] [--strict-categories] [--quiet]\n",
     "Evaluates COCO results JSON ([{image_id, category_id, score, bbox | segmentation}])\n"
     "against COCO ground truth exactly as pycocotools' COCOeval (IoU .50:.05:.95,\n"
     "101 recall points, maxDets 1/10/100, areas all/small/medium/large) and prints\n"
     "the 12 lines of its summarize(). Needs no libtorch.\n"
     "--iou keypoints: results [{image_id, category_id, score, keypoints}] scored by\n"
     "OKS as computeOks (maxDets 20, areas all/medium/large, the 10 lines of\n"
     "_summarizeKps); sigmas from the category's \"sigmas\" in GT, else COCO's 17\n"
     "when it has 17 keypoints, else 0.07 each.\n",
     k_eval, N_OPTS(k_eval),
     "Errors (exit 1) name the file, the index and the field, e.g.\n"
     "  results[12].bbox: expected 4 numbers\n"
     "  results[3]: image_id 999 not in ground truth\n"
     "An empty results array gives every stat -1; results that cover under half of\n"
     "the ground-truth images are evaluated as pycocotools does, with a warning.\n"
     "HND_EVAL_THREADS=N sets the threads (default: all cores; results do not\n"
     "depend on it).\n",
     NULL, 0, 0, 0},
    {"detect", "Faster/Mask R-CNN detection on images, to COCO results JSON",
     "usage: hnd detect --weights W.h5 --arch ARCH --out RESULTS.json [options] IMAGE_OR_DIR...\n"
     "       hnd detect --config CONFIG.json [--weights W.h5] --out RESULTS.json [options] IMAGE_OR_DIR...\n",
     "Runs a torchvision-exact Faster or Mask R-CNN on JPEG/PNG files (a directory\n"
     "means its .jpg/.jpeg/.png files, in name order) and writes COCO results JSON\n"
     "(atomically): [{image_id, category_id, bbox [x,y,w,h] in original pixels, score,\n"
     "segmentation {size, counts} (compressed RLE, Mask R-CNN, mask > 0.5),\n"
     "keypoints [x, y, 1]*K (Keypoint R-CNN, torchvision's reference's form)}].\n"
     "Import torchvision weights first: hnd import-torchvision X.pth W.h5\n",
     k_detect, N_OPTS(k_detect),
     "A progress bar is drawn on a TTY; the summary gives the median and mean time per\n"
     "image and per stage (transform, backbone, rpn, roi_heads, postprocess).\n",
     "IMAGE_OR_DIR", 1, -1, 1},
    {"train", "head network distillation of a student (bottleneck in layer1) from a JSON config",
     "usage: hnd train CONFIG.json [--set KEY.PATH=VALUE ...] [--resume | --overwrite] [--no-val] [--quiet]\n",
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
     "A fresh run refuses an output_dir that already holds a run (--resume or\n"
     "--overwrite); every input is checked before anything there is written.\n",
     k_train, N_OPTS(k_train),
     "Ctrl-C finishes the current iteration, writes output_dir/last.h5 and exits with\n"
     "status 130; a second Ctrl-C aborts. Threads: the config's 'threads' (0 = all cores).\n",
     "CONFIG.json", 1, 1, 1},
    {"train-teacher", "train a teacher (Faster/Mask R-CNN) with torchvision's losses from a JSON config",
     "usage: hnd train-teacher CONFIG.json [--set KEY.PATH=VALUE ...] [--init WEIGHTS.h5]\n"
     "                         [--resume | --overwrite] [--no-val] [--quiet] [--box-teacher F.h5]\n",
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
     "A fresh run refuses an output_dir that already holds a run (--resume or\n"
     "--overwrite); every input is checked before anything there is written.\n",
     k_train_teacher, N_OPTS(k_train_teacher),
     "Ctrl-C finishes the current iteration, writes output_dir/last.h5 and exits with\n"
     "status 130; a second Ctrl-C aborts. Threads: the config's 'threads' (0 = all cores).\n",
     "CONFIG.json", 1, 1, 1},
    {"sweep", "train and evaluate one student per bottleneck size; results.csv/json and curve.png",
     "usage: hnd sweep CONFIG.json --channels 3,6,9,12,15 [--out DIR] [--set K=V ...]\n"
     "                 [--no-teacher] [--jpeg 10,20,...,95] [--beta 0.08,0.32,1.28,5.12\n"
     "                 [--eb-channels C] [--density-lr LR]] [--students-from DIR] [--quiet]\n",
     "For each C: trains the config's student with bottleneck_channel = C in DIR/b<C>ch\n"
     "(skipped when DIR/b<C>ch/last.h5 already finished all epochs of the same\n"
     "training-relevant config; resumed when it stopped early; a run of another\n"
     "config is refused, naming the keys that differ), then evaluates its best\n"
     "checkpoint on the test split (else val) twice: with the configured quantizer\n"
     "(8 bits when none) and on the float32 bottleneck. Also evaluates the teacher\n"
     "(teacher_model.ckpt), and with --jpeg the teacher on inputs re-encoded as JPEG\n"
     "at each quality (PIL's encoder). Writes, atomically:\n"
     "  DIR/results.csv, DIR/results.json  per C: bottleneck shape, mean bytes (float32;\n"
     "      8-bit with scale and zero point), ratios to the input tensor (3xHxW at 32 and\n"
     "      8 bits) and the paper's (values / 3x874x1044), bbox AP and mask AP quantized\n"
     "      and float32 (Keypoint R-CNN: keypoint AP too); the teacher's row; per JPEG\n"
     "      quality its mAP and mean bytes\n"
     "  DIR/curve.png  mAP against bytes sent per image: quantized and float32\n"
     "      students, the teacher on JPEG inputs, the teacher's level (the paper's Figure 5)\n"
     "With --beta, per beta a student with a learned entropy bottleneck (C = --eb-channels),\n"
     "trained with student_model.entropy_bottleneck.beta = B and evaluated on the symbols\n"
     "the link codes. DIR/rate.csv, DIR/rate.json: per row the bytes sent per image (8-bit,\n"
     "8-bit rANS-coded, entropy bottleneck, JPEG), bits per input pixel and mAP, and the\n"
     "BD-rate of each curve against the 8-bit students (also printed).\n"
     "With --students-from DIR nothing is trained: each C's student is DIR/b<C>ch/best.h5\n"
     "of an earlier sweep of the same backbone, loaded into this config's detector (a\n"
     "Mask R-CNN student's file holds the Faster R-CNN student: its mask head keys are\n"
     "skipped). Every tensor under student_model.frozen_modules must be bit-equal to\n"
     "this config's teacher_model.ckpt, else an error names the first that differs (a\n"
     "student distilled from another teacher); a missing DIR/b<C>ch/best.h5, or one whose\n"
     "run stopped before its last epoch (DIR/b<C>ch/last.h5), is an error.\n",
     k_sweep, N_OPTS(k_sweep), NULL, "CONFIG.json", 1, 1, 1},
    {"plot", "several sweeps' results.json as labelled curves on one figure, and one table",
     "usage: hnd plot RESULTS.json[:LABEL[:bbox|segm]] ... --out FIG.png [--metric bbox|segm]\n"
     "                [--title T] [--quiet]\n",
     "Reads up to 8 results.json written by hnd sweep (e.g. HND and GHND sweeps of the\n"
     "Faster and the Mask R-CNN) and draws them on one figure, one colour per sweep\n"
     "(LABEL; default: the file's directory name), each with its metric (bbox or segm\n"
     "after the label; default --metric): the students' AP against the bytes\n"
     "per image of the 8-bit bottleneck (solid) and of the float32 one (dashed), the\n"
     "teacher on JPEG inputs where the sweep has it, and each distinct teacher level\n"
     "as a horizontal line. Prints every sweep's rows as one table (C, bytes 8-bit and\n"
     "float32, AP quantized and float32). Example:\n"
     "  hnd plot hnd/results.json:HND ghnd/results.json:GHND --out hnd_vs_ghnd.png\n"
     "  hnd plot f/results.json:Faster:bbox m/results.json:Mask:segm --out fig.png\n",
     k_plot, N_OPTS(k_plot), NULL, "RESULTS.json", 1, 8, 0},
    {"eval-model", "evaluate a teacher or student checkpoint on a config's split (mAP, bottleneck size)",
     "usage: hnd eval-model CKPT.h5 --config CONFIG.json [--split test|val] [--out RESULTS.json]\n"
     "                      [--json STATS.json] [--bits 8|16|32 | --no-transform] [--set K=V ...]\n",
     "Runs the checkpoint (a student from hnd train, recognised by its bottleneck\n"
     "tensors, or a teacher weight file) on the config's test split (else val) and\n"
     "prints pycocotools' 12 bbox (and segm) stats, and for a student the mean\n"
     "bottleneck shape and size. A split without images is an error.\n",
     k_eval_model, N_OPTS(k_eval_model), NULL, "CKPT.h5", 1, 1, 1},
    {"export", "a student's head for devices (ONNX, TorchScript, plain C) and its tail for the server",
     "usage: hnd export STUDENT.h5 --out DIR [--config S.json] [--format onnx,torchscript,c]\n"
     "                  [--bits 8|16|32] [--min-size N --max-size N] [--overwrite]\n",
     "Writes a deployable bundle of a student (hnd train's checkpoint; a teacher has no\n"
     "bottleneck to cut at and is refused). The head is stem + encoder + quantizer with\n"
     "every BatchNorm folded into its convolution; its input is the transformed image\n"
     "(float32 [1,3,H,W]: resized, normalised, zero-padded to a multiple of 32; the\n"
     "manifest gives the rule), its output the bottleneck (uint8 + scale + zero point,\n"
     "or float16/float32). Files, assembled in a temporary directory and renamed:\n"
     "  DIR/head.onnx        opset 13, dynamic H and W, the quantizer in the graph\n"
     "  DIR/head.pt          TorchScript (torch.jit.load, libtorch, PyTorch Mobile)\n"
     "  DIR/head_c/          dependency-free C99 runtime: hnd_head.c/.h, head.bin, an\n"
     "                       example program hnd_head_run.c and a Makefile (cc, any CPU)\n"
     "  DIR/tail.h5          the tail's weights (torchvision key names) for hnd serve\n"
     "  DIR/manifest.json    model, classes, C, bits, input rule, quantizer, wire format,\n"
     "                       SHA-256 of every file\n",
     k_export, N_OPTS(k_export), NULL, "STUDENT.h5", 1, 1, 1},
    {"split-detect", "detect with the head here and the tail on an hnd serve edge server",
     "usage: hnd split-detect --head BUNDLE|STUDENT.h5 --server HOST:PORT --out RESULTS.json\n"
     "                        [--config S.json] [--head-format c|torch] [--ann INSTANCES.json]\n"
     "                        [--rate-mbps R] [--codec auto|raw|rans] [--original] [--retries N]\n"
     "                        [--timings T.csv] [--threads N] [--quiet] IMAGES...\n",
     "The device side of split computing. Connects to the server and says HELLO with\n"
     "the bundle's manifest digest (zeros for a student .h5), bits and C; a server with\n"
     "another model refuses, and that is an error. Then per image (JPEG/PNG files, or\n"
     "directories of them): decode, run the head (transform, stem, encoder, quantizer),\n"
     "send the bottleneck, receive the detections and append them to RESULTS.json\n"
     "exactly as hnd detect writes the same detections (image ids likewise; written\n"
     "atomically once every image is done). A dropped connection is re-opened and the\n"
     "request resent (--retries); a server ERROR or an unreadable image stops the run\n"
     "naming the image. Prints per image: head ms, encode ms, bytes sent, network +\n"
     "server ms (first byte sent to the reply received), tail ms (the server's own),\n"
     "total ms (head + encode + network+server); then medians, p95, bytes, images/s.\n",
     k_split_detect, N_OPTS(k_split_detect),
     "Ctrl-C stops after the current request: nothing is written, exit status 130.\n",
     "IMAGES", 1, -1, 1},
    {"serve", "the edge server of split computing: runs the tail for hnd split-detect clients",
     "usage: hnd serve (--bundle DIR | --weights STUDENT.h5 [--config S.json])\n"
     "                 [--original W.h5 [--original-config C.json]] [--port P] [--bind ADDR]\n"
     "                 [--max-conns N] [--idle-timeout S] [--frame-timeout S] [--threads N]\n"
     "                 [--max-requests N] [--quiet]\n",
     "Listens on TCP for the split link's frames (infer/wire.h). A client says HELLO\n"
     "with its manifest digest, bits and C; a server whose model differs (the digest\n"
     "when both have one, bits, C) answers ERROR mismatch and closes. Then each\n"
     "BOTTLENECK (the head's output: uint8 + scale + zero point, float16 or float32,\n"
     "checked against the model's C, bits and the transform's padded size) runs the\n"
     "tail, and each IMAGE (JPEG, with --original) the whole model; the answer is\n"
     "DETECTIONS (boxes, scores, labels, masks as COCO RLE) with the request's id, or\n"
     "ERROR. A malformed frame gets ERROR with the reason and its connection is\n"
     "closed; a client's error never stops the server. Limits: the payload (the\n"
     "largest bottleneck the model's transform can produce; 32 MiB for IMAGE),\n"
     "original images of at most 8192 pixels a side and 16 Mpixel, the timeouts.\n"
     "\n"
     "One thread per connection, but the model runs one request at a time: libtorch\n"
     "already spreads a single request over every core (--threads), so running two at\n"
     "once would not be faster.\n"
     "\n"
     "Prints 'hnd serve: listening on ADDR:PORT (...)' when ready, one line per request\n"
     "(client, request id, bytes, detections, tail ms) and at the end a summary\n"
     "(connections, requests, errors, bytes in/out, median and p95 model ms).\n",
     k_serve, N_OPTS(k_serve),
     "SIGINT/SIGTERM: stop accepting, answer the requests already received, close every\n"
     "connection, print the summary, exit 0.\n",
     NULL, 0, 0, 1},
    {"analyze", "where to split: tensor sizes and cumulative parameters per module (Figs. 2-4)",
     "usage: hnd analyze --arch ARCH [--config STUDENT.json] [--input 3x800x800] [--out DIR]\n"
     "                   [--student-channels C[,C...]] [--no-student] [options]\n",
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
     "smallest split point before layer2 and the bottleneck's reduction.\n",
     k_analyze, N_OPTS(k_analyze), NULL, NULL, 0, 0, 1},
    {"bench-latency", "head/tail/whole timing and the mobile/edge/split total time vs link rate",
     "usage: hnd bench-latency [CONFIG.json | WEIGHTS.h5] --images DIR [--arch ARCH]\n"
     "                         [--student-channels C] [--device cpu|cuda] [--runs N] [options]\n",
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
     "Writes DIR/latency_parts.csv, DIR/latency_sizes.csv, DIR/latency_model.csv and\n"
     "DIR/latency_model.png.\n"
     "\n"
     "The model: CONFIG.json (an experiment config: its student, or its model), a\n"
     "weight file (architecture, classes and a student's C read from its keys;\n"
     "a student file without the detector's other weights takes --teacher T.h5),\n"
     "or --arch ARCH [--student-channels C] alone (random weights).\n",
     k_bench_latency, N_OPTS(k_bench_latency), NULL, "CONFIG_OR_CKPT", 0, 1, 1},
    {"info", "show the libtorch build: version, threads, BLAS, CUDA", "usage: hnd info [--threads N]\n",
     "Prints what the torch side of hnd was built with and can use.\n", k_info, N_OPTS(k_info), NULL, NULL, 0, 0,
     1},
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
        co_print_help(stdout, c);
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

int hnd_parse(const char *name, int argc, char **argv, co_args *out) {
    const hnd_command_info *c = hnd_command_find(name);
    if (!c) {
        fprintf(stderr, "hnd: internal error: no command '%s'\n", name);
        return 2;
    }
    return co_parse(c, argc, argv, out);
}
