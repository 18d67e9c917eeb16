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
    /// layer from <paramref name="initSeed"/> as its reference counterpart does (<see cref="InitFor"/>), so
    /// initialisation never depends on the process-global generator or on which thread builds the model.
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
        Initialise(model, initSeed, InitFor(name));
        return model;
    }

    /// <summary>
    /// The reference's resnet20 (models/resnet20.py) draws every conv and linear weight with kaiming_normal_; its VGG
    /// and ResNet18 keep PyTorch's defaults, and so do our mlp and cnn, which have no reference counterpart.
    /// </summary>
    public static WeightInit InitFor(string name) => name == "resnet20" ? WeightInit.KaimingNormal : WeightInit.PyTorchDefault;

    public static void Initialise(Module model, long seed, WeightInit init)
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
            var fanIn = weight.numel() / weight.shape[0];
            var bound = 1.0 / Math.Sqrt(fanIn);
            if (init == WeightInit.KaimingNormal)
                FillNormal(weight, Math.Sqrt(2.0 / fanIn), generator);
            else
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

    /// <summary>N(0, std^2) drawn with torch.randn and the generator, which it honours (see <see cref="FillUniform"/>).</summary>
    private static void FillNormal(Tensor target, double std, Generator generator)
    {
        using var values = randn(target.shape, generator: generator);
        using var scale = Scalars.Of(std);
        target.copy_(values.mul_(scale));
    }

    /// <summary>
    /// The channel count of a layer at <paramref name="width"/>, rounded up to a multiple of 16: the oneDNN 3.7.1 inside
    /// libtorch-cpu 2.10 computes wrong (often NaN) convolution input gradients when the output channels do not
    /// fill its 16-wide (AVX-512) or 8-wide (AVX2) channel blocks.
    /// </summary>
    internal static int Scaled(int channels, double width) => ChannelBlock * Math.Max(1, (int)Math.Ceiling(channels * width / ChannelBlock));

    internal const int ChannelBlock = 16;
}

/// <summary>
/// How conv and linear weights are drawn. PyTorchDefault: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (what
/// kaiming_uniform_(a = sqrt(5)) gives); KaimingNormal: N(0, 2 / fan_in) (kaiming_normal_ with its defaults, fan_in
/// and the ReLU gain). Biases keep PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) either way.
/// </summary>
public enum WeightInit { PyTorchDefault, KaimingNormal }
