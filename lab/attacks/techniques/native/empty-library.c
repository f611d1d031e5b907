/*
 * empty-library: a shared library with nothing in it. The
 * runc-library-replace technique builds it under the soname of the copy it
 * keeps of the genuine library, only so that its own library names that
 * copy in DT_NEEDED (gcc records a linked library's soname).
 */
