using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

public static class Devices
{
    /// <summary>Parses "cpu" or "cuda:N" and checks that the device exists in this build and machine.</summary>
    public static Device Resolve(string name)
    {
        if (name == "cpu")
            return CPU;
        if (!name.StartsWith("cuda", StringComparison.Ordinal))
            throw new ArgumentException($"unknown device '{name}' (expected cpu or cuda:N)");
        if (!cuda.is_available())
            throw new ArgumentException($"device '{name}' asked for, but CUDA is not available (this build uses libtorch-cpu, or there is no GPU)");
        var index = name == "cuda" ? 0 : int.TryParse(name.AsSpan(5), out var n) && name[4] == ':' ? n : -1;
        if (index < 0 || index >= cuda.device_count())
            throw new ArgumentException($"device '{name}' does not exist: {cuda.device_count()} CUDA device(s) found");
        return device(DeviceType.CUDA, index);
    }
}
