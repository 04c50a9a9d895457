#!/usr/bin/env python3
"""Writes a Flickr8k split as a COCO captions file, the format most captioning data comes in.

    scripts/flickr8k_to_coco.py ../shared/data/flickr8k train > flickr8k_train_coco.json

Images keep the split list's order and get its line numbers (from 0) as ids; every caption of an
image becomes an annotation. The image folder stays where it is: give it to glimpse as --images
(or "images" in a recipe's coco_captions source).
"""
import json
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: flickr8k_to_coco.py FLICKR8K_DIR SPLIT (train, dev or test)")
    folder, split = sys.argv[1], sys.argv[2]
    with open(f"{folder}/{split}_images.txt", encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    ids = {name: i for i, name in enumerate(names)}
    annotations = []
    with open(f"{folder}/captions.txt", encoding="utf-8") as f:
        for line in f:
            key, _, caption = line.rstrip("\n").partition("\t")
            name = key.split("#")[0]
            if name in ids and caption:
                annotations.append({"id": len(annotations), "image_id": ids[name],
                                    "caption": caption})
    json.dump({"images": [{"id": i, "file_name": n} for n, i in ids.items()],
               "annotations": annotations}, sys.stdout)


if __name__ == "__main__":
    main()
