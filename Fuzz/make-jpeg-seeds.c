// Writes the JPEG seeds of Fuzz/Corpus/jpeg (tiny synthetic gradients: baseline 4:4:4 and 4:2:0,
// gray, progressive, and a truncated copy) with TurboJPEG, which the tool links for decoding.
// No .jpg extension: these are synthetic seeds, and the repository keeps no JPEG files outside Samples/.
// cc Fuzz/make-jpeg-seeds.c -o /tmp/make-jpeg-seeds -lturbojpeg && (cd Fuzz/Corpus/jpeg && /tmp/make-jpeg-seeds)
#include <turbojpeg.h>
#include <stdio.h>
#include <stdlib.h>
static void save(const char *path, int w, int h, int pf, int samp, int q, int flags, int cut) {
    unsigned char *px = malloc(w * h * 3); unsigned char *out = NULL; unsigned long size = 0;
    for (int y = 0; y < h; y++) for (int x = 0; x < w; x++) {
        px[(y*w+x)*3] = x*255/(w-1); px[(y*w+x)*3+1] = y*255/(h-1); px[(y*w+x)*3+2] = (x^y)&255; }
    tjhandle t = tjInitCompress();
    if (pf == TJPF_GRAY) for (int i = 0; i < w*h; i++) px[i] = px[3*i];
    if (tjCompress2(t, px, w, 0, h, pf, &out, &size, samp, q, flags)) { fprintf(stderr, "%s\n", tjGetErrorStr2(t)); exit(1); }
    FILE *f = fopen(path, "wb"); fwrite(out, 1, cut ? size * 2 / 3 : size, f); fclose(f);
}
int main(void) {
    save("baseline-444", 8, 8, TJPF_RGB, TJSAMP_444, 90, 0, 0);
    save("baseline-420", 16, 16, TJPF_RGB, TJSAMP_420, 75, 0, 0);
    save("gray", 16, 8, TJPF_GRAY, TJSAMP_GRAY, 80, 0, 0);
    save("progressive", 16, 16, TJPF_RGB, TJSAMP_422, 80, TJFLAG_PROGRESSIVE, 0);
    save("truncated", 16, 16, TJPF_RGB, TJSAMP_420, 75, 0, 1);
    return 0;
}
