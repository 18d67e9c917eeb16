using PapaActors.Models.Data;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PapaActors.Models.Nets;

/// <summary>Builds the networks of the zoo by name, initialised from a per-member generator.</summary>
public static class ModelZoo
{
    public static readonly string[] Names = ["mlp", "cnn", "vgg11", "vgg16", "resnet20", "resnet18"];

    /// <summary>
    /// Creates <paramref name="name"/> for inputs of <paramref name="shape"/> and initialises every conv and linear
    /// layer from <paramref name="initSeed"/> (PyTorch's default ranges, U(-1/sqrt(fan_in), 1/sqrt(fan_in))),
    /// so initialisation never depends on the process-global generator or on which thread builds the model.
    /// </summary>
    public static Module<Tensor, Tensor> Create(string name, ImageShape shape, int classes, double width, long initSeed)
    {
        if (width <= 0)
            throw new ArgumentOutOfRangeException(nameof(width), width, "model width must be positive");
        Module<Tensor, Tensor> model = name switch
        {
            "mlp" => new Mlp(shape, classes, width),
            "cnn" => new SmallCnn(shape, classes, width),
            "vgg11" => new Vgg(Vgg.Vgg11, shape, classes, width),
            "vgg16" => new Vgg(Vgg.Vgg16, shape, classes, width),
            "resnet20" => new ResNet(ResNet.ResNet20, shape, classes, width),
            "resnet18" => new ResNet(ResNet.ResNet18, shape, classes, width),
            _ => throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", Names)})"),
        };
        Initialise(model, initSeed);
        return model;
    }

    public static void Initialise(Module model, long seed)
    {
        using var generator = new Generator().manual_seed(seed);
        using var noGrad = no_grad();
        foreach (var module in model.modules())
        {
            var (weight, bias) = module switch
            {
                TorchSharp.Modules.Conv2d conv => (conv.weight, conv.bias),
                TorchSharp.Modules.Linear linear => (linear.weight, linear.bias),
                _ => (null, null),
            };
            if (weight is null)
                continue;
            var bound = 1.0 / Math.Sqrt(weight.numel() / weight.shape[0]);
            FillUniform(weight, bound, generator);
            if (bias is not null)
                FillUniform(bias, bound, generator);
        }
    }

    /// <summary>
    /// U(-bound, bound) drawn with torch.rand: in TorchSharp 0.107 nn.init.uniform_ and Tensor.uniform_ ignore
    /// their generator argument (measured: two generators with one seed give different values), rand does not.
    /// </summary>
    private static void FillUniform(Tensor target, double bound, Generator generator)
    {
        using var values = rand(target.shape, generator: generator);
        using var width = Scalars.Of(2 * bound);
        using var offset = Scalars.Of(bound);
        target.copy_(values.mul_(width).sub_(offset));
    }

    /// <summary>
    /// The channel count of a layer at <paramref name="width"/>, rounded up to a multiple of 16: the oneDNN 3.7.1 inside
    /// libtorch-cpu 2.10 computes wrong (often NaN) convolution input gradients when the output channels do not
    /// fill its 16-wide (AVX-512) or 8-wide (AVX2) channel blocks.
    /// </summary>
    internal static int Scaled(int channels, double width) => ChannelBlock * Math.Max(1, (int)Math.Ceiling(channels * width / ChannelBlock));

    internal const int ChannelBlock = 16;
}
