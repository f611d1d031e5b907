/** Error codes of the kind substrate (lab/kind). */
export type KindErrorCode =
  /** `go` is missing, or the Go module proxy did not answer. */
  | 'K8S_TOOLCHAIN'
  /** A `go build` of a Kubernetes or etcd binary failed. */
  | 'K8S_BUILD_FAILED'
  /** The kind node image could not be built. */
  | 'KIND_IMAGE_FAILED'
  /** kind or kubectl is missing and could not be installed. */
  | 'KIND_TOOL_MISSING'
  /** `kind create cluster` failed, or the cluster never became Ready. */
  | 'KIND_CLUSTER_FAILED'
  /** A kubeconfig names a cluster that no longer exists. */
  | 'KIND_CLUSTER_GONE'
  /** The admission webhook's registration objects cannot be made from the manifest (lab/kind/admission.ts). */
  | 'KIND_WEBHOOK_CONFIG_INVALID'
  /** kube-apiserver never got the admission webhook's answer: the stuck part (Service, endpoints, TLS, process) is named. */
  | 'KIND_WEBHOOK_NOT_EFFECTIVE';
