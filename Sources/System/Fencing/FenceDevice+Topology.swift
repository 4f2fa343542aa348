import Topology

extension FenceDevice {
    /// The device a topology's `hosts[].fence` describes: the same agent, options and secret files;
    /// `timeout` in seconds becomes the bound on one run. (`attempts` is the controller's business:
    /// ``HostController/Configuration``.)
    public init(_ spec: HostFence) {
        self.init(agent: spec.agent, options: spec.options, secretFiles: spec.secretFiles,
                  timeout: .milliseconds(Int64((spec.timeoutSeconds * 1000).rounded())))
    }
}
