using PapaActors.Models.Data;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace PapaActors.Models.Nets;

/// <summary>
/// CIFAR-style VGG with BatchNorm (conv-BN-ReLU, 2x2 max pools, one linear classifier). Pools that would
/// shrink the feature map below 1x1 (28x28 inputs) are skipped, and a global average pool feeds the classifier.
/// </summary>
public sealed class Vgg : Module<Tensor, Tensor>, IPenultimateFeatures
{
    private const int Pool = 0;
    public static readonly int[] Vgg11 = [64, Pool, 128, Pool, 256, 256, Pool, 512, 512, Pool, 512, 512, Pool];
    public static readonly int[] Vgg16 = [64, 64, Pool, 128, 128, Pool, 256, 256, 256, Pool, 512, 512, 512, Pool, 512, 512, 512, Pool];

    private readonly Module<Tensor, Tensor> features;
    private readonly Module<Tensor, Tensor> classifier;

    public Vgg(int[] config, ImageShape shape, int classes, double width) : base(nameof(Vgg))
    {
        var layers = new List<Module<Tensor, Tensor>>();
        var channels = shape.Channels;
        var size = Math.Min(shape.Height, shape.Width);
        foreach (var entry in config)
        {
            if (entry == Pool)
            {
                if (size >= 2)
                {
                    layers.Add(MaxPool2d(2));
                    size /= 2;
                }
                continue;
            }
            var outChannels = ModelZoo.Scaled(entry, width);
            layers.Add(Conv2d(channels, outChannels, 3, padding: 1));
            layers.Add(new BatchNorm2d(outChannels));
            layers.Add(ReLU());
            channels = outChannels;
        }
        layers.Add(AdaptiveAvgPool2d(1));
        layers.Add(Flatten());
        features = Sequential(layers);
        classifier = Linear(channels, classes);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input) => classifier.call(Features(input));

    /// <summary>The globally pooled output of the last conv stage.</summary>
    public Tensor Features(Tensor input) => features.call(input);
}
