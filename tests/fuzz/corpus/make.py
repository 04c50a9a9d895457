#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora beside this file: small valid inputs of each format and
the hostile cases the server once crashed on. Run it again after changing it; the files are
checked in."""
import json
import os
import shutil
import struct

here = os.path.dirname(os.path.abspath(__file__))
images = os.path.join(here, "..", "..", "data", "images")


def put(target, name, data):
    os.makedirs(os.path.join(here, target), exist_ok=True)
    with open(os.path.join(here, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape"))


png = open(os.path.join(images, "rgb.png"), "rb").read()

# request: raw HTTP requests as a connection carries them.
def req(method, target, headers=b"", body=b"", version=b"HTTP/1.1"):
    h = method + b" " + target + b" " + version + b"\r\nHost: f\r\n" + headers
    if body:
        h += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return h + b"\r\n" + body


def form(fields):
    b = b""
    for name, value, extra in fields:
        b += b"--B\r\nContent-Disposition: form-data; name=\"" + name + b"\"" + extra + b"\r\n\r\n"
        b += value + b"\r\n"
    return b + b"--B--\r\n"


mp = b"Content-Type: multipart/form-data; boundary=B\r\n"
requests = {
    "page": req(b"GET", b"/"),
    "healthz_head": req(b"HEAD", b"/healthz"),
    "models": req(b"GET", b"/api/v1/models"),
    "metrics": req(b"GET", b"/metrics"),
    "favicon": req(b"GET", b"/favicon.ico"),
    "caption_multipart": req(b"POST", b"/api/v1/caption", mp,
                             form([(b"image", png, b"; filename=\"a.png\""), (b"beam", b"2", b"")])),
    "ask_raw": req(b"POST", b"/api/v1/ask?question=what%20colour%20is%20the%20circle&max_len=3",
                   b"Content-Type: image/png\r\n", png),
    "ask_multipart": req(b"POST", b"/api/v1/ask", mp,
                         form([(b"image", png, b""), (b"question", b"is there a red square", b"")])),
    "chunked": req(b"POST", b"/api/v1/caption",
                   b"Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n") +
    b"%x\r\n" % len(png) + png + b"\r\n0\r\n\r\n",
    "bad_path": req(b"GET", b"/\xff\xfe"),
    "bad_query_name": req(b"POST", b"/api/v1/caption?%ff=1", b"Content-Type: image/png\r\n", png),
    "bad_field_name": req(b"POST", b"/api/v1/caption", mp, form([(b"\xc3", b"x", b"")])),
    "bad_model": req(b"POST", b"/api/v1/caption", mp,
                     form([(b"image", png, b""), (b"model", b"tiny\xe2\x82", b"")])),
    "bad_beam": req(b"POST", b"/api/v1/caption", mp,
                    form([(b"image", png, b""), (b"beam", b"1" * 39 + b"\xc3\xa9", b"")])),
    "bad_type": req(b"POST", b"/api/v1/caption", b"Content-Type: text/\xff\r\n", b"x"),
    "bad_question": req(b"POST", b"/api/v1/ask?question=%ff", b"Content-Type: image/png\r\n", png),
    "examples_traversal": req(b"GET", b"/examples/..%2f..%2fetc%2fpasswd"),
    "http10": req(b"GET", b"/nowhere", version=b"HTTP/1.0"),
    "method": req(b"DELETE", b"/api/v1/caption"),
}
for name, data in requests.items():
    put("request", name, data)

# multipart: the Content-Type line, then the body.
ct = b"multipart/form-data; boundary=B\n"
put("multipart", "two_fields", ct + form([(b"image", b"\x89PNG", b"; filename=\"a.png\""),
                                           (b"question", b"why?", b"")]))
put("multipart", "quoted_boundary", b"multipart/form-data; boundary=\"a;b\"\n--a;b\r\n"
    b"Content-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--a;b--\r\n")
put("multipart", "twice", ct + form([(b"x", b"1", b""), (b"x", b"2", b"")]))
put("multipart", "unclosed", ct + b"--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nopen")
put("multipart", "no_boundary", b"multipart/form-data\n--B--\r\n")

# image: the decoder test images, and a truncated PNG.
os.makedirs(os.path.join(here, "image"), exist_ok=True)
for f in sorted(os.listdir(images)):
    if not f.endswith(".sh"):
        shutil.copy(os.path.join(images, f), os.path.join(here, "image", f))
put("image", "truncated.png", png[: len(png) // 2])

# model_file: safetensors with a glimpse config, and broken headers.
def safetensors(tensors, metadata):
    header = {"__metadata__": metadata}
    data = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


config = {"format_version": 1, "encoder": "small_cnn", "decoder": "lstm",
          "vocabulary": ["<pad>", "<bos>", "<eos>", "<unk>", "<caption>", "<question>",
                         "<answer>", "a", "red", "circle"],
          "tasks": ["caption"]}
floats = struct.pack("<4f", 0.5, -1.0, 2.0, 0.0)
put("model_file", "config", safetensors({"decoder.w": ("F32", [2, 2], floats)},
                                        {"glimpse": json.dumps(config)}))
put("model_file", "fp16", safetensors({"w": ("F16", [2], struct.pack("<2e", 1.0, -2.0)),
                                       "i": ("I64", [1], struct.pack("<q", 7))}, {}))
put("model_file", "offsets_past_end", struct.pack("<Q", 60) +
    b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1600]}}  ')
put("model_file", "huge_header_length", struct.pack("<Q", 1 << 62) + b"{}")
put("model_file", "nan", safetensors({"w": ("F32", [1], struct.pack("<f", float("nan")))}, {}))

# datasets: the first byte picks the loader (0 COCO, 1 Karpathy, 2 Flickr8k, 3 VQA v2,
# 4 the world's folder, 5 DAQUAR), the rest holds its files separated by "\n----\n".
sep = "\n----\n"
coco = {"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4}],
        "annotations": [{"id": 1, "image_id": 1, "caption": "a red circle"}]}
put("datasets", "coco", b"\x00" + json.dumps(coco).encode())
karpathy = {"images": [{"filename": "a.png", "split": "train", "imgid": 0,
                        "sentences": [{"raw": "A red circle.", "tokens": ["a", "red", "circle"]}]}]}
put("datasets", "karpathy", b"\x01" + json.dumps(karpathy).encode())
put("datasets", "flickr8k", b"\x02" + ("a.png#0\ta dog runs .\na.png#1\ta dog" + sep + "a.png\n").encode())
questions = {"questions": [{"question_id": 5, "image_id": 1, "question": "What colour?"}]}
annotations = {"annotations": [{"question_id": 5, "image_id": 1, "answer_type": "other",
                                "answers": [{"answer": "red", "answer_id": i} for i in range(1, 11)]}]}
put("datasets", "vqa", b"\x03" + (json.dumps(questions) + sep + json.dumps(annotations)).encode())
put("datasets", "world", b"\x04" + (json.dumps(coco) + sep + json.dumps(questions) + sep +
                                    json.dumps(annotations)).encode())
put("datasets", "daquar", b"\x05" + b"what is on the desk in the image1 ?\nbook, lamp\n"
    b"how many chairs are there in the image1 ?\n2\n")
put("datasets", "flickr8k_bad_line", b"\x02" + ("no tab here\n" + sep + "a.png\n").encode())

# recipe: a recipe's JSON, then after "\n----\n" one --set assignment per line.
minimal = {"data": {"train": [{"format": "world", "dir": "w", "split": "train"}],
                    "dev": [{"format": "world", "dir": "w", "split": "dev"}]}}
put("recipe", "minimal", json.dumps(minimal))
shapes = json.load(open(os.path.join(here, "..", "..", "..", "recipes", "shapes.json")))
put("recipe", "shapes", json.dumps(shapes) + sep + "optimisation.lr=5e-4\nobjectives.1.weight=2")
flickr8k = json.load(open(os.path.join(here, "..", "..", "..", "recipes", "flickr8k.json")))
put("recipe", "flickr8k", json.dumps(flickr8k))
vqa = dict(minimal, data={"train": [{"format": "vqa_v2", "questions": "q", "annotations": "a",
                                     "images": "i", "image_pattern": "{id}.png", "weight": 0.5}],
                          "dev": [{"format": "coco_captions", "captions": "c", "images": "i"}]})
put("recipe", "vqa_weighted", json.dumps(vqa) + sep + "data.train.0.weight=2\nmodel.tasks=[\"vqa\"]")
put("recipe", "wrapping_epochs", json.dumps(dict(minimal, optimisation={"epochs": 4294967297,
                                                                        "seed": -1})))
put("recipe", "bad_sets", json.dumps(minimal) + sep + "objectives.9.weight=1\n=\nx\noutput.out.y=1")
# Found by fuzz_recipe: a --set value that is neither JSON nor UTF-8 became a string no JSON
# could write (nlohmann threw from dump()).
put("recipe", "set_not_utf8", json.dumps(vqa) + sep + "model.tasks=[\"v\udcf1a\"]")
# Found by fuzz_recipe: a list index of more digits than stoul can hold threw out_of_range.
# Found by fuzz_recipe: a model field of 6e77 was cast to int64 unchecked (undefined behaviour).
put("recipe", "set_huge_width", json.dumps(minimal) + sep + "model.encoder.width=6e77")
put("recipe", "set_huge_index", json.dumps(minimal) + sep + "objectives." + "9" * 30 + ".weight=1")

# caption_questions: one caption.
for name, text in [("subject", "A dog is catching a ball ."),
                   ("number", "Two girls are sitting on a bench in the park ."),
                   ("colour", "A man in a red shirt climbs a rock ."),
                   ("odd", "and and is , the the of ing ings s")]:
    put("caption_questions", name, text)

