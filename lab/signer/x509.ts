/**
 * The one entry point to @peculiar/x509 in this component: the reflect shim
 * must be evaluated before the library (ESM evaluates imports in order).
 */
import './reflect-shim.ts';

export * from '@peculiar/x509';
